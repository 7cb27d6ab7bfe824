"""The pipeline as a Python API: `run_stages(spark, stages, PipelineConfig(...))` runs stages in
order in one SparkSession, each stage under its own `_meta.runs` record linked to one parent
`run` record (the command line is `greenlink run`, `greenlink.ops.commands.run`).

A stage is the `stage` module of the package the stage registry (core.stages) names for it, with
`CONFIG` (its config class) and `run(spark, config, parent_run_id)`. `stage_config` gives a stage
its defaults with the values the pipeline shares (input folder, reports folder, quarantine of bad
input files).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, fields
from types import ModuleType
from typing import Any

from greenlink.core import stages
from greenlink.core.runs import Run, dump_state


@dataclass(frozen=True)
class PipelineConfig:
    """Values `greenlink run` shares with the stages that take them."""

    input: str | None = None                  # raw input folder (a generated world or real dumps)
    reports: str | None = None                # reports folder (None: <warehouse>/../reports)
    quarantine_bad_files: bool = False        # ingest: take the usable files when some are refused
    full: bool = False                        # every stage in full (ingest: --force), nothing skipped


def stage_module(stage: str) -> ModuleType:
    """The stage's module (`CONFIG`, `run`), from the registry."""
    return importlib.import_module(stages.stage(stage).module)


def config_class(stage: str) -> type:
    """The stage's config dataclass: its module's `CONFIG`."""
    return stage_module(stage).CONFIG


def stage_config(stage: str, pipeline: PipelineConfig) -> Any:
    """The stage's default config, with the pipeline's shared values it has a field for."""
    cls = config_class(stage)
    names = {f.name for f in fields(cls)}
    shared = {f.name: getattr(pipeline, f.name) for f in fields(pipeline)
              if f.name in names and getattr(pipeline, f.name) not in (None, False)}
    if pipeline.full and "force" in names:     # ingest's name for it
        shared["force"] = True
    return cls(**shared)


def reads_input(stage: str) -> bool:
    """Whether the stage reads raw files (has an `input` folder)."""
    return "input" in {f.name for f in fields(config_class(stage))}


def run_stage(spark, stage: str, config: Any, parent_run_id: str | None = None) -> dict[str, int]:
    """Run one stage with its config; returns the counts recorded in _meta.runs."""
    return stage_module(stage).run(spark, config, parent_run_id=parent_run_id)


def run_stages(spark, stages: list[str], pipeline: PipelineConfig) -> str:
    """Run `stages` in order under one parent `run` record; returns its run_id."""
    with Run(spark, "run", inputs={"input": pipeline.input or ""},
             args={"stages": stages, "quarantine_bad_files": pipeline.quarantine_bad_files,
                   "full": pipeline.full}) as parent:
        for stage in stages:
            parent.log(f"stage {stage}")
            run_stage(spark, stage, stage_config(stage, pipeline), parent_run_id=parent.run_id)
            if stage == "ingest":               # the parent record says whether the dump was partial
                parent.inputs.update(dump_state(spark))
        return parent.run_id
