"""Configuration as validated data: run profiles (conf/profiles/*.yaml) and reference files.

A profile names the Spark master, the warehouse root, Spark settings and the stages that run
without generated code (core.session.INTERPRETED). Unknown keys, wrong types and missing
files are reported as one-line `UserError`s.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from greenlink.core.errors import UserError
from greenlink.core import stages
from greenlink.core.paths import CONF_DIR


def load_yaml(path: str | Path) -> Any:
    """Parse a YAML file; a missing or malformed file is a UserError naming it."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"config file not found: {path}")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None


def conf_file(name: str) -> Path:
    """A reference file under conf/ (e.g. `headers.yaml`)."""
    return CONF_DIR / name


def read_years(value: Any, where: str) -> tuple[int, int]:
    """A `[first, last]` year range of a config file, within text.PLAUSIBLE_YEARS."""
    from greenlink.core.text import check_years  # local: core.text imports pyspark, config does not

    try:
        lo, hi = (int(v) for v in value)
    except (TypeError, ValueError):
        raise UserError(f"{where}: expected [first, last], e.g. [2010, 2020]") from None
    return check_years(lo, hi, where)


def study_years() -> tuple[int, int]:
    """The study years of SPEC §3, first and last inclusive: `years` of conf/panel.yaml, the one
    place they are set (the policy, networks and panel stages default to them)."""
    path = conf_file("panel.yaml")
    data = load_yaml(path)
    return read_years(data.get("years") if isinstance(data, dict) else None, f"{path}: years")


# The pipeline's stages in the order `greenlink run --all` follows (the registry, core.stages).
# In core, not in ops, so that a profile's `interpreted_stages` can be checked when it is read.
STAGES: tuple[str, ...] = stages.names()


def check_stage_names(names: list[str] | tuple[str, ...], where: str) -> tuple[str, ...]:
    """`names` if each is a pipeline stage; a misspelt one would otherwise be silently ignored."""
    unknown = [n for n in names if n not in STAGES]
    if unknown:
        raise UserError(f"{where}: unknown stage(s) {', '.join(map(repr, unknown))}; stages: {', '.join(STAGES)}")
    return tuple(names)


@dataclass(frozen=True)
class Profile:
    name: str
    master: str | None
    warehouse: str
    driver_memory: str | None = None
    checkpoint_dir: str | None = None
    log_level: str = "WARN"
    spark_conf: dict[str, str] = field(default_factory=dict)
    # stages whose queries Spark evaluates without generating Java code (core.session.INTERPRETED)
    interpreted_stages: tuple[str, ...] = ()
    # JVM options of a driver the session starts itself (local masters), e.g. the JDK's
    # `-XX:AOTCache=FILE`; under spark-submit they are spark-submit's --driver-java-options
    driver_java_options: str | None = None
    # seconds a run's Spark jobs may wait while the application has no executor before they are
    # cancelled and the run fails (core.session.ExecutorWatchdog); never on a local master
    no_executor_timeout_s: float = 120.0

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str) -> "Profile":
        if not isinstance(data, dict):
            raise UserError(f"profile {source}: expected a mapping of settings")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UserError(f"profile {source}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        for required in ("name", "warehouse"):
            if not data.get(required):
                raise UserError(f"profile {source}: '{required}' is required")
        conf = data.get("spark_conf") or {}
        if not isinstance(conf, dict):
            raise UserError(f"profile {source}: spark_conf must be a mapping")
        stages = data.get("interpreted_stages") or []
        if not isinstance(stages, list) or not all(isinstance(s, str) and s for s in stages):
            raise UserError(f"profile {source}: interpreted_stages must be a list of stage names")
        check_stage_names(stages, f"profile {source}: interpreted_stages")
        java_options = data.get("driver_java_options")
        if java_options is not None and not isinstance(java_options, str):
            raise UserError(f"profile {source}: driver_java_options must be one string of JVM options")
        timeout = data.get("no_executor_timeout_s", cls.no_executor_timeout_s)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
            raise UserError(f"profile {source}: no_executor_timeout_s must be a number of seconds above 0")
        level = str(data.get("log_level", "WARN")).upper()
        if level not in {"ALL", "DEBUG", "INFO", "WARN", "ERROR", "FATAL", "OFF", "TRACE"}:
            raise UserError(f"profile {source}: log_level {level!r} is not a log4j level")
        return cls(
            name=str(data["name"]),
            master=data.get("master"),
            warehouse=str(data["warehouse"]),
            driver_memory=data.get("driver_memory"),
            checkpoint_dir=data.get("checkpoint_dir"),
            log_level=level,
            spark_conf={str(k): str(v) for k, v in conf.items()},
            interpreted_stages=tuple(stages),
            driver_java_options=java_options,
            no_executor_timeout_s=float(timeout),
        )


def load_profile(name_or_path: str = "local") -> Profile:
    """`local`, `cluster`, `test`, or a path to a profile YAML file."""
    path = Path(name_or_path)
    if path.suffix not in {".yaml", ".yml"}:
        path = CONF_DIR / "profiles" / f"{name_or_path}.yaml"
        if not path.exists():
            names = sorted(p.stem for p in (CONF_DIR / "profiles").glob("*.yaml"))
            raise UserError(f"unknown profile {name_or_path!r}; available: {', '.join(names)}")
    return Profile.from_dict(load_yaml(path), str(path))
