"""Green classification of patents on Spark (SPEC §2): the WIPO IPC Green Inventory
(`greenlink.reference.inventory`, its rules and oracle) as a broadcast table, matched with
the exploded IPC symbols (`silver.ipc_columns.explode_ipc`).

Execution. Every group-level entry covers one contiguous interval of `ipc.sort_key` within
its subclass (`reference.inventory`, "Intervals"). So matching is a broadcast equi-join of the
exploded symbols with the inventory on `ipc_class`, filtered by subclass and interval
predicates on numeric keys, then one aggregation per patent. `inventory.covers` and
`inventory.classify_symbols` are the test oracle of that execution.
"""
from __future__ import annotations

from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from greenlink.reference.inventory import COMBINED, INVENTORY_COLUMNS, PRIMARY, Rule, inventory_rows, read_inventory

# `inventory_rows` as Spark rows: the columns of INVENTORY_COLUMNS, typed
INVENTORY_SCHEMA = T.StructType([
    T.StructField("rule_id", T.IntegerType(), False),
    T.StructField("entry", T.StringType(), False),
    T.StructField("n_parts", T.IntegerType(), False),
    T.StructField("part", T.StringType(), False),
    T.StructField("level", T.StringType(), False),
    T.StructField("ipc_class", T.StringType(), False),
    T.StructField("subclass", T.StringType(), True),
    T.StructField("key_lo", T.LongType(), True),
    T.StructField("key_hi", T.LongType(), True),
    T.StructField("categories", T.ArrayType(T.StringType(), False), False),
    T.StructField("topics", T.ArrayType(T.StringType(), False), False),
])
assert tuple(INVENTORY_SCHEMA.fieldNames()) == INVENTORY_COLUMNS


def load_inventory(spark: SparkSession, path: str | Path | None = None,
                   rules: list[Rule] | None = None) -> DataFrame:
    """The inventory (conf file, `path`, or already parsed `rules`) as a small Spark
    DataFrame of INVENTORY_SCHEMA, ready to broadcast."""
    rows = inventory_rows(rules if rules is not None else read_inventory(path))
    return spark.createDataFrame([tuple(r[c] for c in INVENTORY_SCHEMA.fieldNames()) for r in rows],
                                 INVENTORY_SCHEMA)


def classify_green(symbols: DataFrame, inventory: DataFrame, id_col: str = "application_no") -> DataFrame:
    """Green classification per patent (SPEC §2), as a broadcast join + one aggregation.

    `symbols`: output of `ipc_columns.explode_ipc` (id_col unique per patent upstream; positions
    1..n); `inventory`: `load_inventory`. Output, one row per patent id of `symbols`:
    id_col, ipc_symbols (distinct valid canonical symbols in field order, first = main),
    main_ipc (first valid symbol), n_ipc_tokens (non-blank tokens, repeats included),
    n_ipc_valid (= size of ipc_symbols; 0 -> reject `no_parseable_ipc`), n_ipc_invalid
    (tokens that are no valid symbol), is_green,
    categories / topics / green_entries (sorted distinct arrays, empty when not green).

    Only the patents with a match (about one in ten) go through lambdas: Spark evaluates
    them without generated code and asks SQLConf for its settings on every call, which was
    most of the green phase at 1M when every patent's tokens went through them
    (docs/benchmarks.md). The token facts are plain aggregates, insensitive to the join's
    repeats of a token (one row per entry it matches): the valid symbols with their positions
    (made distinct), the last position, and the invalid tokens, which match nothing and so
    are never repeated.
    """
    inv = F.broadcast(inventory.select(*[F.col(c).alias(f"inv_{c}") for c in inventory.columns]))
    s = symbols
    in_group = (F.col("inv_key_lo").isNull()
                | ((s["sort_key"] >= F.col("inv_key_lo")) & (s["sort_key"] < F.col("inv_key_hi"))))
    cond = ((s["ipc_class"] == F.col("inv_ipc_class"))
            & ((F.col("inv_level") == "class") | ((s["subclass"] == F.col("inv_subclass")) & in_group)))
    joined = s.join(inv, cond, "left")
    match = F.struct(*[F.col(f"inv_{c}").alias(c) for c in
                       ("rule_id", "part", "n_parts", "entry", "categories", "topics")])
    valid = F.when(F.col("symbol").isNotNull(), F.struct("position", "symbol"))
    agg = joined.groupBy(id_col).agg(
        # sorted by position, so array_distinct keeps each symbol's first occurrence
        F.array_distinct(F.sort_array(F.collect_list(valid)).getField("symbol")).alias("ipc_symbols"),
        F.coalesce(F.max("position"), F.lit(0)).alias("n_ipc_tokens"),
        F.count(F.when(F.col("position").isNotNull() & F.col("symbol").isNull(), 1)).cast("int")
        .alias("n_ipc_invalid"),
        F.collect_set(F.when(F.col("inv_rule_id").isNotNull(), match)).alias("_matches"),
    )
    m = F.col("_matches")
    # a rule holds when a token matches its primary part and, if it has two, another (or the
    # same) token matches its combined part
    holds = F.filter(m, lambda x: (x["part"] == PRIMARY) & (
        (x["n_parts"] == 1) | F.exists(m, lambda y: (y["rule_id"] == x["rule_id"]) & (y["part"] == COMBINED))))
    satisfied = F.col("_satisfied")
    none = F.array().cast("array<string>")

    def payload(field: str, nested: bool) -> Column:
        values = F.transform(satisfied, lambda x: x[field])
        return F.when(F.size(satisfied) > 0, F.array_sort(F.array_distinct(
            F.flatten(values) if nested else values))).otherwise(none)

    return (agg
            .withColumn("_satisfied", F.when(F.size(m) > 0, holds).otherwise(m))   # m: [] there
            .select(
                id_col,
                "ipc_symbols",
                F.try_element_at("ipc_symbols", F.lit(1)).alias("main_ipc"),
                "n_ipc_tokens",
                F.size("ipc_symbols").alias("n_ipc_valid"),
                "n_ipc_invalid",
                (F.size(satisfied) > 0).alias("is_green"),
                payload("categories", True).alias("categories"),
                payload("topics", True).alias("topics"),
                payload("entry", False).alias("green_entries"),
            ))
