"""IPC fields as Spark column expressions: the Spark side of `greenlink.reference.ipc` (SPEC §2).

Each function is the Spark version of the Python reference function it names, built from
the same data (`ipc.TRANSLATE_FROM` / `TRANSLATE_TO`, `TOKEN_STEPS`, `CANONICAL`,
`FIELD_SPLIT_INSERT`, `FIELD_SEPARATORS`) with built-in functions only (usable inside
higher-order lambdas); the tests check that both agree. `explode_ipc` is the normal form the
green classification (`silver.green.classify_green`) joins with the inventory.
"""
from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from greenlink.core.text import translate_where_needed
from greenlink.reference.ipc import (CANONICAL, FIELD_SPLIT_INSERT, KEY_SCALE, SEPARATOR_RUN, SUBGROUP_DIGITS,
                                     TOKEN_STEPS, TRANSLATE_FROM, TRANSLATE_TO, java_replacement)


def symbol_level_column(symbol: Column) -> Column:
    """Spark version of `ipc.symbol_level` (null for a null symbol)."""
    return (F.when(symbol.contains(" "), F.lit("group"))
            .when(F.length(symbol) == 4, F.lit("subclass")).when(symbol.isNotNull(), F.lit("class")))


_PAIRS_TYPE = "array<struct<token:string,symbol:string>>"


# every character the map changes is outside printable ASCII or a lower-case letter
_NEEDS_MAP = r"[^\x20-\x60\x7B-\x7E]"


def _translate(col: Column) -> Column:
    return translate_where_needed(col, TRANSLATE_FROM, TRANSLATE_TO, _NEEDS_MAP)


def normalise_ipc_column(col: Column | str, mapped: bool = False) -> Column:
    """Spark version of `ipc.normalise_ipc`: canonical symbol string or null. `mapped`: the
    token is `split_ipc_column`'s, whose field went through the character map already."""
    c = F.col(col) if isinstance(col, str) else col
    c = c if mapped else _translate(c)
    for pattern, repl in TOKEN_STEPS:
        c = F.regexp_replace(c, pattern, java_replacement(repl))
    # null when CANONICAL does not match; unlike nullif(regexp_extract(..), '') this
    # references the chain once (nullif expands to if(x = '', null, x), doubling the work)
    return F.try_element_at(F.regexp_extract_all(c, F.lit(CANONICAL), F.lit(1)), F.lit(1))


def split_ipc_column(col: Column | str) -> Column:
    """Spark version of `ipc.split_ipc`: array<string> of tokens (empty array for null)."""
    c = _translate(F.coalesce(F.col(col) if isinstance(col, str) else col, F.lit("")))
    c = F.regexp_replace(c, FIELD_SPLIT_INSERT[0], java_replacement(FIELD_SPLIT_INSERT[1]))
    # Blank tokens (spaces only) are dropped without a lambda: a separator takes the spaces
    # before it and any spaces and separators after it, so a blank token can only be the
    # empty string left at either end, which array_remove drops.
    return F.array_remove(F.split(F.trim(c), SEPARATOR_RUN), "")


def parsed_ipc_column(col: Column | str) -> Column:
    """Spark version of `ipc.parse_ipc_field`: array<struct<token, symbol>> in order, valid
    symbols deduplicated keeping the first occurrence, invalid tokens kept (symbol null)."""
    pairs = F.transform(split_ipc_column(col),
                        lambda t: F.struct(t.alias("token"), normalise_ipc_column(t).alias("symbol")))
    # A left fold keeps `pairs` referenced once, so the regex chain runs once per token.
    empty_pairs = F.array().cast(_PAIRS_TYPE)
    start = F.struct(F.array().cast("array<string>").alias("seen"), empty_pairs.alias("out"))

    def step(acc: Column, p: Column) -> Column:
        keep = F.struct(acc["seen"].alias("seen"), F.concat(acc["out"], F.array(p)).alias("out"))
        add = F.struct(F.concat(acc["seen"], F.array(p["symbol"])).alias("seen"),
                       F.concat(acc["out"], F.array(p)).alias("out"))
        return (F.when(p["symbol"].isNull(), keep)
                .when(F.array_contains(acc["seen"], p["symbol"]), acc)
                .otherwise(add))

    return F.aggregate(pairs, start, step, lambda acc: acc["out"])


def ipc_symbols_column(col: Column | str) -> Column:
    """Spark version of `ipc.ipc_symbols`: array<string> of valid symbols, first = main."""
    return F.transform(F.filter(parsed_ipc_column(col), lambda p: p["symbol"].isNotNull()),
                       lambda p: p["symbol"])


def symbol_parts(symbol: Column) -> dict[str, Column]:
    """Parts of a canonical symbol column: ipc_class, subclass, main_group, subgroup, sort_key
    (null where the symbol is null or has no such part)."""
    has_group = symbol.contains(" ")
    main_group = F.when(has_group, F.regexp_extract(symbol, r" ([0-9]+)/", 1).try_cast("int"))
    subgroup = F.when(has_group, F.substring_index(symbol, "/", -1))
    key = (main_group.cast("long") * F.lit(KEY_SCALE)
           + F.rpad(subgroup, SUBGROUP_DIGITS, "0").try_cast("long"))
    return {
        "ipc_class": F.substring(symbol, 1, 3),
        "subclass": F.when(F.length(symbol) >= 4, F.substring(symbol, 1, 4)),
        "main_group": main_group,
        "subgroup": subgroup,
        "sort_key": key,
    }


def explode_ipc(df: DataFrame, id_col: str = "application_no", ipc_col: str = "ipc") -> DataFrame:
    """One row per IPC token of each patent (SPEC §2 normal form).

    Input: `id_col`, `ipc_col` (raw IPC field). Output columns:
    `id_col`, position (1-based order of the token in the field; 1 = main), ipc_token
    (after the character map), symbol (canonical or null), valid, ipc_class, subclass,
    main_group, subgroup, sort_key. Repeats of a symbol are kept here (they cannot change a
    match; `green.classify_green` deduplicates the list keeping the first occurrence).
    A patent without any token keeps one row with position and symbol null and valid
    false, so that every input patent reaches `classify_green`.
    """
    # Tokens are exploded first and normalised as a top-level column: Spark generates code
    # for it there (about twice as fast as evaluating the chain inside an array lambda).
    exploded = df.select(F.col(id_col), F.posexplode_outer(split_ipc_column(ipc_col)).alias("_pos", "ipc_token"))
    with_symbol = exploded.select(id_col, "_pos", "ipc_token",
                                  normalise_ipc_column("ipc_token", mapped=True).alias("symbol"))
    symbol = F.col("symbol")
    parts = symbol_parts(symbol)
    return with_symbol.select(
        F.col(id_col),
        (F.col("_pos") + 1).alias("position"),
        "ipc_token",
        symbol,
        symbol.isNotNull().alias("valid"),
        *[c.alias(name) for name, c in parts.items()],
    )
