"""spark-submit entry point of the panel stage: `spark-submit jobs/panel.py [options]`
(the options of `greenlink panel --help`)."""
import sys

from greenlink.ops.cli import main

if __name__ == "__main__":
    sys.exit(main(["panel", *sys.argv[1:]]))
