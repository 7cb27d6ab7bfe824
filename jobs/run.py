"""spark-submit entry point of the run stage: `spark-submit jobs/run.py [options]`
(the options of `greenlink run --help`)."""
import sys

from greenlink.ops.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", *sys.argv[1:]]))
