"""The command-line options several `greenlink` commands share: the argparse helpers of
`ops.commands` and `ops.diff`, in a module of their own so that the command modules never
import `ops.cli`, which imports them."""
from __future__ import annotations

import argparse


def add_common(parser: argparse.ArgumentParser) -> None:
    """Options every Spark stage shares."""
    parser.add_argument("--profile", default="local",
                        help="conf/profiles/<name>.yaml or a path to a profile (default: local)")
    parser.add_argument("--warehouse", default=None,
                        help="warehouse root (default: the profile's, ./warehouse for local)")
    parser.add_argument("--reports", default=None,
                        help="where tables and figures go (default: <warehouse>/../reports)")
    parser.add_argument("--lock-wait", type=float, default=0.0, metavar="SECONDS",
                        help="wait up to SECONDS for another run holding the warehouse lock (default: fail at once)")


def add_quarantine(parser: argparse.ArgumentParser) -> None:
    """The ingest option `greenlink run` shares (docs/ingest.md, "File checks")."""
    parser.add_argument("--quarantine-bad-files", action="store_true",
                        help="ingest the usable files when some input files are refused, record the refused "
                             "ones in bronze.file_rejects and mark the run as built from a partial dump "
                             "(default: fail, listing every refused file)")


def add_full(parser: argparse.ArgumentParser) -> None:
    """`--full`: rebuild from scratch instead of skipping an unchanged stage or running an
    incremental one (docs/operations.md, "Monthly runs")."""
    parser.add_argument("--full", action="store_true",
                        help="run in full even when the inputs are unchanged or only some records changed")
