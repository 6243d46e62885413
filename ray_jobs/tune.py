"""`ray job submit ... -- python ray_jobs/tune.py --run RUN [--set k=v]`: the `dcai tune` verb as a Ray job.

Parsing, config loading and the call into ``dcai.tune.pipeline.run`` are the CLI's; the job only adds
`--json` so the report is the last line of the job's log.
"""

import sys

from dcai.cli import main

if __name__ == "__main__":
    sys.exit(main(["tune", *sys.argv[1:], "--json"]))
