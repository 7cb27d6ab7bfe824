"""spark-submit entry point of the ingest stage: `spark-submit jobs/ingest.py [options]`
(the options of `greenlink ingest --help`)."""
import sys

from greenlink.ops.cli import main

if __name__ == "__main__":
    sys.exit(main(["ingest", *sys.argv[1:]]))
