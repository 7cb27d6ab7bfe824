"""spark-submit entry point of the generate stage: `spark-submit jobs/generate.py [options]`
(the options of `greenlink generate --help`)."""
import sys

from greenlink.ops.cli import main

if __name__ == "__main__":
    sys.exit(main(["generate", *sys.argv[1:]]))
