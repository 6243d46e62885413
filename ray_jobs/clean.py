"""`ray job submit ... -- python ray_jobs/clean.py --run RUN [ARGS]`: the `dcai clean` verb as a Ray job.

Parsing, config loading and the call into the stage are the CLI's; the job only adds `--json` so
the report is the last line of the job's log.
"""

import sys

from dcai.cli import main

if __name__ == "__main__":
    sys.exit(main(["clean", *sys.argv[1:], "--json"]))
