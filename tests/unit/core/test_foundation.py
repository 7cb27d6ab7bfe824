"""The runtime a newcomer installs: Spark + Delta from the project-local jar cache."""
from __future__ import annotations

import pytest
from pyspark.sql import types as T

from greenlink.core import state, tables
from greenlink.core.config import load_profile
from greenlink.core.errors import UserError
from greenlink.core.runs import RUNS, Run, runs_view

from frames import assert_frame_equal

SPEC = tables.TableSpec(
    name="gold.smoke",
    schema=T.StructType([T.StructField("year", T.IntegerType()), T.StructField("city", T.StringType()),
                         T.StructField("share", T.DoubleType())]),
    partition_by=("year",),
    not_null=("year", "city"),
    checks={"share_unit": "share BETWEEN 0 AND 1"},
)


def test_delta_write_read_with_constraints(spark, fresh_warehouse):
    df = spark.createDataFrame([(2010, "a", 0.5), (2011, "b", 1.0)], "year int, city string, share double")
    tables.write(df, SPEC)
    tables.write(df, SPEC)  # idempotent: same content, no duplicates
    assert_frame_equal(tables.read(spark, "gold.smoke"), df)
    assert (fresh_warehouse / "gold" / "smoke" / "_delta_log").is_dir()
    # delta-rs and DuckDB read reader version 1
    assert tables.protocol(spark, "gold.smoke")[0] == 1
    bad = spark.createDataFrame([(2012, "c", 1.5)], "year int, city string, share double")
    with pytest.raises(Exception, match="(?i)constraint|check"):
        tables.write(bad, SPEC, mode="replace_where", replace_where="year = 2012")
    null_key = spark.createDataFrame([(2012, None, 0.1)], "year int, city string, share double")
    with pytest.raises(Exception, match="(?i)null"):
        tables.write(null_key, SPEC, mode="replace_where", replace_where="year = 2012")
    assert tables.read(spark, "gold.smoke").count() == 2


def test_a_new_table_is_defined_in_one_commit_with_its_constraints(spark, fresh_warehouse):
    import json

    tables.ensure(spark, SPEC)
    log = fresh_warehouse / "gold" / "smoke" / "_delta_log"
    assert sorted(p.name for p in log.glob("*.json")) == ["00000000000000000000.json"]
    meta = next(json.loads(line)["metaData"] for line in (log / "00000000000000000000.json").read_text().splitlines()
                if '"metaData"' in line)
    assert meta["configuration"]["delta.constraints.share_unit"] == "share BETWEEN 0 AND 1"
    assert meta["partitionColumns"] == ["year"]


@pytest.mark.slow
def test_merge_reflects_changes_and_deletions(spark, fresh_warehouse):
    df = spark.createDataFrame([(2010, "a", 0.5), (2011, "b", 1.0)], "year int, city string, share double")
    tables.write(df, SPEC, mode="merge", keys=("year", "city"))
    new = spark.createDataFrame([(2010, "a", 0.25), (2012, "c", 0.0)], "year int, city string, share double")
    tables.write(new, SPEC, mode="merge", keys=("year", "city"), delete_missing=True)
    assert_frame_equal(tables.read(spark, "gold.smoke"), [(2010, "a", 0.25), (2012, "c", 0.0)])


def test_change_counts_read_by_delta_rs_equal_sparks(spark, fresh_warehouse, monkeypatch):
    # every kind of write a stage makes, then the counts of every range of commits read from the
    # local log by delta-rs and, with the local path withheld, by Spark's history and counts
    rows = "year int, city string, share double"
    writes = [
        lambda: tables.write(spark.createDataFrame([(2010, "a", 0.5), (2011, "b", 1.0), (2011, "c", 0.1)], rows), SPEC),
        lambda: tables.write(spark.createDataFrame([(2011, "b", 0.9)], rows), SPEC, mode="replace_where",
                             replace_where="year = 2011"),
        lambda: tables.write(spark.createDataFrame([(2010, "a", 0.25), (2012, "d", 0.0)], rows), SPEC,
                             mode="merge", keys=("year", "city"), delete_missing=True),
        lambda: tables.write(spark.createDataFrame([(2013, "e", 0.3), (2013, "f", 0.4)], rows), SPEC),
    ]
    for w in writes:
        w()
    latest = state.log_version(spark, SPEC.name)
    assert latest is not None and latest >= len(writes) - 1
    ranges = [None, 1, latest - 1]      # every commit; all but the first write; the last overwrite
    local = {since: state.change_counts(spark, SPEC.name, since) for since in ranges}
    monkeypatch.setattr(state, "_local_path", lambda loc: None)
    assert local == {since: state.change_counts(spark, SPEC.name, since) for since in ranges}
    # the last overwrite removed what the merge left (2 rows) and added its 2
    assert local[latest - 1] == {"added": 2, "changed": 0, "removed": 2}
    assert local[None]["added"] - local[None]["removed"] == 2


@pytest.mark.slow
def test_overwrite_with_a_grown_spec_replaces_the_definition(spark, fresh_warehouse):
    """A spec that gained a column (e.g. a new metric) overwrites a table written with the old
    spec: schema, NOT NULL and CHECKs become the new spec's, the history is kept."""
    df = spark.createDataFrame([(2010, "a", 0.5)], "year int, city string, share double")
    tables.write(df, SPEC)
    written = tables.latest_version(spark, SPEC.name)
    grown = tables.TableSpec(name=SPEC.name, schema=T.StructType([*SPEC.schema.fields, T.StructField("n", T.LongType())]),
                             partition_by=SPEC.partition_by, not_null=(*SPEC.not_null, "n"),
                             checks={**SPEC.checks, "n_positive": "n > 0"})
    tables.write(spark.createDataFrame([(2011, "b", 1.0, 3)], "year int, city string, share double, n long"), grown)
    assert_frame_equal(tables.read(spark, SPEC.name), [(2011, "b", 1.0, 3)])
    # versions: 0 create, 1 add the CHECK, 2 the first write
    assert_frame_equal(tables.read(spark, SPEC.name, version=written), [(2010, "a", 0.5)])
    for bad in ((2012, "c", 0.5, 0), (2012, "c", 1.5, 1)):     # the new CHECK and the old one
        with pytest.raises(Exception, match="(?i)constraint|check"):
            tables.write(spark.createDataFrame([bad], "year int, city string, share double, n long"), grown,
                         mode="replace_where", replace_where="year = 2012")


def test_register_all_names_tables_in_catalog(spark, fresh_warehouse):
    df = spark.createDataFrame([(2010, "a", 0.5)], "year int, city string, share double")
    tables.write(df, SPEC)
    assert "gold.smoke" in tables.register_all(spark)
    assert spark.sql("SELECT count(*) FROM gold.smoke").first()[0] == 1


@pytest.mark.slow
def test_runs_are_recorded_with_status(spark, fresh_warehouse):
    with Run(spark, "smoke", inputs={"input": "x"}) as run:
        run.count("rows_in", 3)
    with pytest.raises(RuntimeError):
        with Run(spark, "smoke"):
            raise RuntimeError("boom")
    view = {r["status"]: r for r in runs_view(spark).collect()}
    assert view["succeeded"]["counts"] == {"rows_in": 3}
    # a failed run names the file holding Spark's log (core.console, tests/unit/core/test_console.py)
    assert view["failed"]["message"] == f"RuntimeError: boom (Spark's log: {spark.conf.get('spark.greenlink.sparkLog')})"
    assert tables.read(spark, RUNS.name).count() == 4


@pytest.mark.slow
def test_table_deleted_during_the_session_is_created_again_with_its_constraints(spark, fresh_warehouse):
    import shutil

    df = spark.createDataFrame([(2010, "a", 0.5)], "year int, city string, share double")
    tables.write(df, SPEC)                       # created and remembered as ensured
    shutil.rmtree(fresh_warehouse / "gold" / "smoke")
    tables.write(df, SPEC)                       # the cache must notice the table is gone
    props = {k for k, _ in spark.sql(f"SHOW TBLPROPERTIES delta.`{tables.path(spark, 'gold.smoke')}`").collect()}
    assert "delta.constraints.share_unit" in props
    bad = spark.createDataFrame([(2012, "c", 1.5)], "year int, city string, share double")
    with pytest.raises(Exception, match="(?i)constraint|check"):
        tables.write(bad, SPEC, mode="replace_where", replace_where="year = 2012")


@pytest.mark.slow
def test_stats_columns_limit_delta_statistics_and_keep_reader_version_1(spark, fresh_warehouse):
    import json
    from dataclasses import replace

    spec = replace(SPEC, stats_columns=("year", "city"))
    df = spark.createDataFrame([(2010, "a", 0.5), (2011, "b", 1.0)], "year int, city string, share double")
    tables.write(df, spec)
    props = dict(spark.sql(f"SHOW TBLPROPERTIES delta.`{tables.path(spark, 'gold.smoke')}`").collect())
    assert props[tables.STATS_COLUMNS] == "city"                  # partition columns need no statistics
    assert tables.protocol(spark, "gold.smoke")[0] == 1
    log = fresh_warehouse / "gold" / "smoke" / "_delta_log"
    adds = [json.loads(line)["add"] for f in sorted(log.glob("*.json")) for line in f.read_text().splitlines()
            if '"add"' in line]
    assert adds and all(set(json.loads(a["stats"])["minValues"]) == {"city"} for a in adds)
    # a table created without them gets them on the next write of a spec that has them
    tables.write(df, SPEC)
    other = replace(SPEC, stats_columns=("city", "share"))
    tables.write(df, other)
    props = dict(spark.sql(f"SHOW TBLPROPERTIES delta.`{tables.path(spark, 'gold.smoke')}`").collect())
    assert props[tables.STATS_COLUMNS] == "city,share"


def test_run_phases_are_timed_and_name_their_spark_jobs(spark, fresh_warehouse):
    sc = spark.sparkContext
    with Run(spark, "smoke") as run:
        with run.phase("count"):
            assert sc.getLocalProperty("spark.job.description") == "smoke: count"
            assert sc.getLocalProperty("greenlink.job") == "smoke"
            spark.range(3).count()
        assert sc.getLocalProperty("spark.job.description") is None
    assert sc.getLocalProperty("greenlink.job") is None
    assert run.counts["phase_ms.count"] >= 0


def test_profiles_validate(tmp_path):
    assert load_profile("local").master == "local[*]"
    with pytest.raises(UserError, match="unknown profile"):
        load_profile("nope")
    # the executor watchdog's timeout (core.session.ExecutorWatchdog): seconds above 0, 120 unset
    assert load_profile("local").no_executor_timeout_s == load_profile("cluster").no_executor_timeout_s == 120
    bad = tmp_path / "bad.yaml"
    for value in ("0", "-5", "two minutes", "true", "[120]"):
        bad.write_text(f"name: bad\nwarehouse: wh\nno_executor_timeout_s: {value}\n")
        with pytest.raises(UserError, match="no_executor_timeout_s must be a number of seconds above 0"):
            load_profile(str(bad))
    bad.write_text("name: ok\nwarehouse: wh\nno_executor_timeout_s: 7.5\n")
    assert load_profile(str(bad)).no_executor_timeout_s == 7.5


def test_profiles_name_their_interpreted_stages(tmp_path):
    from greenlink.core.paths import CONF_DIR
    from greenlink.ops.cli import PIPELINE

    for path in sorted((CONF_DIR / "profiles").glob("*.yaml")):
        assert set(load_profile(str(path)).interpreted_stages) <= set(PIPELINE), path.name
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nwarehouse: wh\ninterpreted_stages: controls\n")
    with pytest.raises(UserError, match="interpreted_stages must be a list of stage names"):
        load_profile(str(bad))
    good = tmp_path / "aot.yaml"
    good.write_text("name: aot\nmaster: local[*]\nwarehouse: wh\ndriver_java_options: -XX:AOTCache=/tmp/x.aot -Xss4m\n")
    assert load_profile(str(good)).driver_java_options == "-XX:AOTCache=/tmp/x.aot -Xss4m"
    assert load_profile("local").driver_java_options is None
    bad.write_text("name: bad\nwarehouse: wh\ndriver_java_options: [-Xss4m]\n")
    with pytest.raises(UserError, match="driver_java_options must be one string"):
        load_profile(str(bad))
    bad.write_text("name: bad\nwarehouse: wh\ninterpreted_stages: [policy, contrls]\n")
    with pytest.raises(UserError, match=r"interpreted_stages: unknown stage\(s\) 'contrls'; stages: ingest, classify"):
        load_profile(str(bad))


def _codegen_stages(df) -> int:
    """Whole-stage code generation subtrees in the plan Spark executes for df."""
    import re

    text = df.sparkSession._jvm.PythonSQLUtils.explainString(df._jdf.queryExecution(), "codegen")
    found = re.search(r"Found (\d+) WholeStageCodegen subtrees", text)
    return int(found.group(1)) if found else 0


@pytest.mark.slow
def test_a_listed_stage_runs_interpreted_and_the_session_is_restored_after(spark, fresh_warehouse):
    from greenlink.core.session import INTERPRETED, INTERPRETED_KEY, session_conf

    codegen = {"spark.sql.codegen.wholeStage": "true", "spark.sql.codegen.factoryMode": "FALLBACK"}
    query = lambda: spark.range(10).selectExpr("id * 2 AS x").filter("x > 3")  # noqa: E731
    with session_conf(spark, {INTERPRETED_KEY: "controls,panel", **codegen}):
        assert _codegen_stages(query()) > 0
        with Run(spark, "controls"):
            assert {k: spark.conf.get(k) for k in INTERPRETED} == INTERPRETED
            assert _codegen_stages(query()) == 0
            assert query().count() == 8            # x = 4, 6, …, 18
        assert {k: spark.conf.get(k) for k in codegen} == codegen
        with Run(spark, "networks"):                 # not listed: as the session was
            assert {k: spark.conf.get(k) for k in codegen} == codegen
            assert _codegen_stages(query()) > 0
        with pytest.raises(RuntimeError), Run(spark, "panel"):
            raise RuntimeError("a failed stage also gives the settings back")
        assert {k: spark.conf.get(k) for k in codegen} == codegen
    # the same list given as spark-submit --conf, misspelt: the stage stops before it runs
    with session_conf(spark, {INTERPRETED_KEY: "controls, panle"}):
        with pytest.raises(UserError, match="spark.greenlink.interpretedStages: unknown stage\\(s\\) 'panle'"):
            with Run(spark, "controls"):
                pass


def test_translate_is_skipped_only_where_it_changes_nothing(spark):
    """The width fold and the IPC character map skip values that need no change: the
    result equals a plain translate on every value; a class missing a character is refused."""
    import random

    from pyspark.sql import functions as F

    from greenlink.core import text
    from greenlink.reference import ipc
    from greenlink.silver import ipc_columns

    maps = {"fold": (text.fold_width, text.FULLWIDTH, text.HALFWIDTH),
            "fold_lower": (text.fold_width_lower, text.FOLD_LOWER_FROM, text.FOLD_LOWER_TO),
            "ipc": (ipc_columns._translate, ipc.TRANSLATE_FROM, ipc.TRANSLATE_TO)}
    rng = random.Random(2)
    alphabet = "aZ09 ;/.-苏\t\x01\x7f\u00a0\u3000\u3001ＡｚＺ０；\ufeff"
    values = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8))) for _ in range(2000)] + [None, ""]
    df = spark.createDataFrame([(i, v) for i, v in enumerate(values)], "i int, v string")
    for name, (fast, src, dst) in maps.items():
        got = df.select(fast(F.col("v")).alias("fast"), F.translate("v", src, dst).alias("plain"))
        assert got.where(~F.col("fast").eqNullSafe(F.col("plain"))).count() == 0, name
    with pytest.raises(ValueError, match="does not match"):
        text.translate_where_needed(F.col("v"), "aé", "ae", "[a-z]")


@pytest.mark.slow
@pytest.mark.parametrize("broadcast", [True, False])
def test_merged_rows_update_delete_and_insert_by_key_and_leave_equal_rows_alone(spark, use_warehouse, tmp_path,
                                                                                  monkeypatch, broadcast):
    """`tables.merge_rows` (a matched-only MERGE, then an insert-only one), with the changes
    broadcast or, past `MERGE_BROADCAST_ROWS`, not: the change feed holds exactly the updated,
    deleted and inserted rows."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    from greenlink.core import tables

    monkeypatch.setattr(tables, "MERGE_BROADCAST_ROWS", 10 if broadcast else 0)

    spec = tables.TableSpec(name="silver.merge_probe", keys=("k",),
                            schema=T.StructType([T.StructField("k", T.StringType()), T.StructField("v", T.LongType())]))
    with use_warehouse(tmp_path / "wh"):
        tables.write(spark.createDataFrame([("a", 1), ("b", 2), ("c", 3)], "k string, v long"), spec)
        v0 = tables.latest_version(spark, spec.name)
        changes = spark.createDataFrame([("a", 1, False),    # equal: not rewritten
                                         ("b", 20, False),   # updated
                                         ("c", None, True),  # deleted
                                         ("d", 4, False)],   # inserted
                                        "k string, v long, _delete boolean")
        tables.merge_rows(changes, spec, delete_flag="_delete")
        got = {r["k"]: r["v"] for r in tables.read(spark, spec.name).collect()}
        feed = (spark.read.format("delta").option("readChangeFeed", "true").option("startingVersion", v0 + 1)
                .load(tables.path(spark, spec.name)).where(F.col("_change_type") != "update_preimage"))
        kinds = sorted((r["k"], r["_change_type"]) for r in feed.collect())
    assert got == {"a": 1, "b": 20, "d": 4}
    assert kinds == [("b", "update_postimage"), ("c", "delete"), ("d", "insert")]
