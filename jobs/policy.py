"""spark-submit entry point of the policy stage: `spark-submit jobs/policy.py [options]`
(the options of `greenlink policy --help`)."""
import sys

from greenlink.ops.cli import main

if __name__ == "__main__":
    sys.exit(main(["policy", *sys.argv[1:]]))
