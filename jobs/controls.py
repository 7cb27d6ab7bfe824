"""spark-submit entry point of the controls stage: `spark-submit jobs/controls.py [options]`
(the options of `greenlink controls --help`)."""
import sys

from greenlink.ops.cli import main

if __name__ == "__main__":
    sys.exit(main(["controls", *sys.argv[1:]]))
