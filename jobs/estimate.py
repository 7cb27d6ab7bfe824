"""spark-submit entry point of the estimate stage: `spark-submit jobs/estimate.py [options]`
(the options of `greenlink estimate --help`)."""
import sys

from greenlink.ops.cli import main

if __name__ == "__main__":
    sys.exit(main(["estimate", *sys.argv[1:]]))
