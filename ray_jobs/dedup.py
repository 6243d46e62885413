"""`ray job submit ... -- python ray_jobs/dedup.py --run RUN [--against RUN] [--set k=v]`: `dcai dedup` as a Ray job.

Parsing, config loading and the call into ``dcai.dedup.pipeline.run`` are the CLI's; the job only adds
`--json` so the report is the last line of the job's log.
"""

import sys

from dcai.cli import main

if __name__ == "__main__":
    sys.exit(main(["dedup", *sys.argv[1:], "--json"]))
