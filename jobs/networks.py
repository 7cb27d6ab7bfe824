"""spark-submit entry point of the networks stage: `spark-submit jobs/networks.py [options]`
(the options of `greenlink networks --help`)."""
import sys

from greenlink.ops.cli import main

if __name__ == "__main__":
    sys.exit(main(["networks", *sys.argv[1:]]))
