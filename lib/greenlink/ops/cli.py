"""`greenlink …`: one command line for every stage and the whole pipeline.

The registry below maps each command to the module that implements it (the stages come from
the stage registry, core.stages; a stage module's `run(spark, config)` takes a typed, frozen
config) and to its command-line module (`configure(parser)`, `main(args) -> int`;
`greenlink.ops.commands.<command>` for the stages, `run` and `generate`, with the shared options
of ops.options): argparse ends there. `greenlink run` chains the pipeline stages in order.
Errors a user can fix (`UserError`) print as one line (ingest's file checks: one line per refused file) and exit
with status 2, and so does a full disk (`writing <table>: no space left on <mount> (<free> MB
free)`); every line goes through `printable`, so no raw control byte reaches the terminal.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from contextlib import AbstractContextManager, nullcontext

from greenlink.core.config import load_profile
from greenlink.core.errors import UserError, disk_full_in, is_disk_full, space_left
from greenlink.core.lock import warehouse_lock as hold_lock
from greenlink.core.printable import printable
from greenlink.core.session import resolve_warehouse
from greenlink.core.stages import LOCK_FREE, LOCK_FREE_WITH, STAGES

# command -> (module, one-line help): the stages of the registry (core.stages) in pipeline order,
# then the commands that are not stages. PIPELINE is the order `run --all` follows.
COMMANDS: dict[str, tuple[str, str]] = {
    "generate": ("greenlink.synth.world", "write a synthetic patent world (raw inputs + truth/)"),
    **{s.name: (s.module, s.help) for s in STAGES},
    "run": ("greenlink.ops.pipeline", "run pipeline stages in order (--all for every stage)"),
    "diff": ("greenlink.ops.diff", "what changed in tables between two Delta versions, by natural key"),
}
PIPELINE: list[str] = [s.name for s in STAGES]
# Commands whose module holds no argparse: their command line is greenlink.ops.commands.<command>.
_COMMAND_MODULES = (*PIPELINE, "run", "generate")


def command_module(command: str) -> str:
    """The module with the command's `configure(parser)` and `main(args)`."""
    return f"greenlink.ops.commands.{command}" if command in _COMMAND_MODULES else COMMANDS[command][0]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="greenlink", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (_, help_) in COMMANDS.items():
        p = sub.add_parser(name, help=help_, description=help_)
        module = command_module(name)
        importlib.import_module(module).configure(p)
        p.set_defaults(_module=module)
    return parser


def lock_free(args: argparse.Namespace) -> bool:
    """Whether the command runs without the warehouse lock (core.stages.LOCK_FREE, LOCK_FREE_WITH)."""
    option = LOCK_FREE_WITH.get(args.command)
    return args.command in LOCK_FREE or (option is not None and bool(getattr(args, option, None)))


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
