"""`ray job submit ... -- python ray_jobs/gan.py --run RUN [--set k=v]`: the `dcai gan` verb as a Ray job.

The verb comes from the stage registry (``dcai.stages``) through ``dcai.cli``: parsing, config loading and
the call into the stage are the CLI's; the job only adds ``--json`` so the report is the log's last line.
"""

import sys

from dcai.cli import job

if __name__ == "__main__":
    sys.exit(job("gan", sys.argv[1:]))
