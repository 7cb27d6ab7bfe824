"""`greenlink …`: one command line for every stage and the whole pipeline.

The registry below maps each command to the module that implements it (a stage module's
`run(spark, config)` takes a typed, frozen config) and to its command-line module
(`configure(parser)`, `main(args) -> int`; `greenlink.ops.commands.<command>` for the stages and
`run`): argparse ends there. `greenlink run` chains the pipeline stages in order. Errors a user can fix
(`UserError`) print as one line (ingest's file checks: one line per refused file) and exit
with status 2, and so does a full disk (`writing <table>: no space left on <mount> (<free> MB
free)`); every line goes through `printable`, so no raw control byte reaches the terminal.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from contextlib import AbstractContextManager, nullcontext

from greenlink.core.config import STAGES, load_profile
from greenlink.core.errors import UserError, disk_full_in, is_disk_full, space_left
from greenlink.core.lock import warehouse_lock as hold_lock
from greenlink.core.printable import printable
from greenlink.core.session import resolve_warehouse

# command -> (module, one-line help). Order of PIPELINE is the order `run --all` follows.
COMMANDS: dict[str, tuple[str, str]] = {
    "generate": ("greenlink.synth.world", "write a synthetic patent world (raw inputs + truth/)"),
    "ingest": ("greenlink.bronze.stage", "raw dumps -> bronze Delta tables with rejects"),
    "classify": ("greenlink.silver.stage", "bronze -> silver: dedupe, green classification, applicant location"),
    "policy": ("greenlink.gold.policy.stage", "policy documents -> gold.policy_tools, gold.policy_synergy"),
    "estimate": ("greenlink.estimate.stage", "3SLS system and Tables 1-7 from the panel (or any panel file + spec)"),
    "controls": ("greenlink.gold.controls.stage", "panel inputs -> silver controls, gold.sample_log (SPEC §3 sample), er"),
    "networks": ("greenlink.gold.networks.stage", "silver -> gold city networks, city-year network variables, maps"),
    "panel": ("greenlink.gold.panel.stage", "gold.city_year_panel (SPEC §4-§6)"),
    "run": ("greenlink.ops.pipeline", "run pipeline stages in order (--all for every stage)"),
    "diff": ("greenlink.ops.diff", "what changed in tables between two Delta versions, by natural key"),
}
PIPELINE: list[str] = list(STAGES)
# Commands whose module holds no argparse: their command line is greenlink.ops.commands.<command>.
_COMMAND_MODULES = (*PIPELINE, "run", "generate")


def command_module(command: str) -> str:
    """The module with the command's `configure(parser)` and `main(args)`."""
    return f"greenlink.ops.commands.{command}" if command in _COMMAND_MODULES else COMMANDS[command][0]


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="greenlink", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (_, help_) in COMMANDS.items():
        p = sub.add_parser(name, help=help_, description=help_)
        module = command_module(name)
        importlib.import_module(module).configure(p)
        p.set_defaults(_module=module)
    return parser


# Commands that never replace warehouse content run without the warehouse lock
# (generate only appends its own row to _meta.runs; diff only reads), and so does
# `estimate --spec`, which reads a panel file and writes only to --out.
LOCK_FREE = {"generate", "diff"}


def lock_free(args: argparse.Namespace) -> bool:
    return args.command in LOCK_FREE or (args.command == "estimate" and bool(getattr(args, "spec", None)))


def warehouse_lock(args: argparse.Namespace) -> AbstractContextManager:
    """The warehouse lock a command holds while it runs (docs/operations.md, "Concurrency")."""
    if lock_free(args):
        return nullcontext()

    wh = resolve_warehouse(getattr(args, "warehouse", None) or load_profile(getattr(args, "profile", "local")).warehouse)
    return hold_lock(wh, args.command, float(getattr(args, "lock_wait", 0) or 0), argv=" ".join(sys.argv))


def error_lines(command: str, exc: BaseException, warehouse: str | None = None) -> list[str] | None:
    """What a command that failed with `exc` prints (status 2), or None when the error is not the
    user's to fix (the traceback is then shown). A `UserError` prints its lines; a full disk one
    line: the table write that ran out names its table and the space left
    (`core.errors.DiskFull`); recording the failed run in _meta.runs may then run out too, which
    must not hide it. A write outside the tables that ran out names the warehouse."""
    if isinstance(exc, UserError):
        message = str(exc)
    elif is_disk_full(exc):
        full = disk_full_in(exc)
        message = str(full) if full is not None else (
            f"writing the warehouse {warehouse}: {space_left(warehouse)}" if warehouse else "no space left on device")
    else:
        return None
    return [f"greenlink {command}: {printable(line, None)}" for line in message.split("\n")]


def _warehouse_of_args(args: argparse.Namespace) -> str | None:
    try:
        return resolve_warehouse(getattr(args, "warehouse", None) or load_profile(getattr(args, "profile", "local")).warehouse)
    except Exception:   # noqa: BLE001 - only for a message
        return None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    try:
        with warehouse_lock(args):
            return int(importlib.import_module(args._module).main(args) or 0)
    except KeyboardInterrupt:
        print(f"greenlink {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        lines = error_lines(args.command, exc, None if isinstance(exc, UserError) else _warehouse_of_args(args))
        if lines is None:
            raise
        for line in lines:
            print(line, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
