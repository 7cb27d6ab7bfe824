"""The stage registry: one line per pipeline stage, in the order `greenlink run --all` runs them.

A stage is a package with a `stage` module that defines `CONFIG` (its frozen config dataclass,
`<Stage>Config`) and `run(spark, config=CONFIG(), parent_run_id=None)`; its command line is
`greenlink.ops.commands.<name>` and its spark-submit entry `jobs/<name>.py` (docs/architecture.md,
"How to add a stage"). Everything that lists the stages derives from `STAGES`: `core.config.STAGES`
(the names a profile's `interpreted_stages` may use), `ops.cli.COMMANDS` and `ops.cli.PIPELINE`,
`ops.pipeline` (which imports a stage's module by its name here) and the Airflow DAG
(ops/airflow/greenlink_dag.py, which parses this file). Core may not import the
layers, so the packages are named, not imported.

The warehouse lock rules of every command are here too (`LOCK_FREE`, `UNLOCKED_JOBS`).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Stage:
    name: str       # the command (`greenlink <name>`) and the job of its runs in _meta.runs
    package: str    # the package holding its `stage` module
    help: str       # one line: the command's help

    @property
    def module(self) -> str:
        """The module with the stage's `CONFIG` and `run`."""
        return f"{self.package}.stage"


STAGES: tuple[Stage, ...] = (
    Stage("ingest", "greenlink.bronze", "raw dumps -> bronze Delta tables with rejects"),
    Stage("classify", "greenlink.silver", "bronze -> silver: dedupe, green classification, applicant location"),
    Stage("policy", "greenlink.gold.policy", "policy documents -> gold.policy_tools, gold.policy_synergy"),
    Stage("controls", "greenlink.gold.controls", "panel inputs -> silver controls, gold.sample_log (SPEC §3 sample), er"),
    Stage("networks", "greenlink.gold.networks", "silver -> gold city networks, city-year network variables, maps"),
    Stage("panel", "greenlink.gold.panel", "gold.city_year_panel (SPEC §4-§6)"),
    Stage("estimate", "greenlink.estimate", "3SLS system and Tables 1-7 from the panel (or any panel file + spec)"),
)

# Commands that never replace warehouse content run without the warehouse lock (ops.cli.lock_free):
# generate only appends its own row to _meta.runs, diff only reads.
LOCK_FREE: frozenset[str] = frozenset({"generate", "diff"})
# command -> the option with which it runs without the lock: `estimate --spec` reads a panel file
# and writes only to --out.
LOCK_FREE_WITH: dict[str, str] = {"estimate": "spec"}
# The lock-free commands that record runs in _meta.runs: a run of theirs still `running` may be
# alive while another process holds the lock, so core.runs never closes it as failed.
UNLOCKED_JOBS: tuple[str, ...] = ("generate",)


def names() -> tuple[str, ...]:
    """The stages' names in pipeline order."""
    return tuple(s.name for s in STAGES)


def stage(name: str) -> Stage:
    """The registry line of stage `name` (KeyError when it is not a stage)."""
    for s in STAGES:
        if s.name == name:
            return s
    raise KeyError(name)
