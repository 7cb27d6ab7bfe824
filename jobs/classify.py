"""spark-submit entry point of the classify stage: `spark-submit jobs/classify.py [options]`
(the options of `greenlink classify --help`)."""
import sys

from greenlink.ops.cli import main

if __name__ == "__main__":
    sys.exit(main(["classify", *sys.argv[1:]]))
