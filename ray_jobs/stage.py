"""`ray job submit ... -- python ray_jobs/stage.py VERB [ARGS]`: any `dcai` verb as a Ray job, e.g. a stage
that has no file of its own here (every stage of ``dcai.stages`` is a verb).

Parsing, config loading and the call into the stage are the CLI's; the job only adds ``--json`` so the
report is the last line of the job's log.
"""

import sys

from dcai.cli import job

if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python ray_jobs/stage.py VERB [ARGS ...]")
    sys.exit(job(sys.argv[1], sys.argv[2:]))
