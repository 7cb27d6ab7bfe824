"""spark-submit entry point of the diff stage: `spark-submit jobs/diff.py [options]`
(the options of `greenlink diff --help`)."""
import sys

from greenlink.ops.cli import main

if __name__ == "__main__":
    sys.exit(main(["diff", *sys.argv[1:]]))
