"""`greenlink controls`: the panel inputs -> silver tables, the SPEC §3 sample and `er` (SPEC §5).

Reads `<input>/yearbook/` (city × year controls), `<input>/province/` (province × year IP
statistics) and `<input>/cities/` (city attributes): CSV (UTF-8 or GBK), Excel or Parquet,
Chinese or English headers (conf/headers.yaml), with the ingest readers. Cities are written
by name (苏州市, 苏州, 恩施州, a former name from conf/panel.yaml, or the 6-digit code) and
resolved to a `gazetteer.cities()` unit; an unknown or ambiguous name is rejected, never
guessed. Every data row is accepted into its silver table or rejected into
`bronze.control_rejects` with one reason (first failing check wins); rows in = accepted +
rejected per file, recorded in `_meta.runs`.

Then the sample rule (conf/panel.yaml `sample`) writes `gold.sample_log` (one row per city
unit), and `er` is computed over the sample cities' city-years (entropy.build_er) into
`gold.er_index` and `gold.er_weights`. docs/panel.md has the rules and every choice.
"""
from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from greenlink.core import tables
from greenlink.core.config import conf_file, load_yaml
from greenlink.gold.entropy import ER_INDICATORS, build_er, write_er
from greenlink.core.errors import UserError
from greenlink.bronze.layout import IngestConf, InputFile, KindConf, kind_confs, list_folder
from greenlink.gold.panelconf import CITY_CONTROL_VALUES, CONTROL_VALUES, PanelConf
from greenlink.core.text import PLAUSIBLE_YEARS, fold_width, text_key
from greenlink.core.printable import printable_column
from greenlink.core.rejects import accepted_rows, first_at, first_problem, mark_first
from greenlink.gold.sample import SAMPLE_LOG

JOB = "controls"
KINDS: tuple[str, ...] = ("city_controls", "province_ip", "city_attributes")
FOLDERS: dict[str, str] = {"city_controls": "yearbook", "province_ip": "province", "city_attributes": "cities"}
KEYS: dict[str, tuple[str, ...]] = {"city_controls": ("city_code", "year"), "province_ip": ("province_code", "year"),
                                    "city_attributes": ("city_code",)}
# Reject reasons per kind, in the order the checks run (docs/panel.md).
REJECT_REASONS: dict[str, tuple[str, ...]] = {
    "city_controls": ("malformed_row", "unknown_city", "ambiguous_city", "unknown_province", "province_mismatch",
                      "bad_year", "bad_value", "duplicate_row", "conflicting_rows"),
    "province_ip": ("malformed_row", "unknown_province", "bad_year", "bad_value", "duplicate_row",
                    "conflicting_rows"),
    "city_attributes": ("malformed_row", "unknown_city", "ambiguous_city", "unknown_province", "province_mismatch",
                        "unknown_admin_level", "bad_hsr_year", "duplicate_row", "conflicting_rows"),
}
_DETAIL_CHARS = 300

_S, _I, _L, _D = T.StringType(), T.IntegerType(), T.LongType(), T.DoubleType()


def _fields(*cols: tuple[str, T.DataType]) -> T.StructType:
    return T.StructType([T.StructField(n, t) for n, t in cols])


def _in(values: Iterable[str]) -> str:
    return ", ".join(f"'{v}'" for v in values)


_YEARS = f"year BETWEEN {PLAUSIBLE_YEARS[0]} AND {PLAUSIBLE_YEARS[1]}"
_LINEAGE = "source_row > 0"

# Value rules of the yearbook controls (units as the yearbook prints them): a number breaking
# its rule rejects the row (bad_value). The five er indicators take any number: entropy.fill_gaps
# treats a rate outside 0–100 as a gap and lists it in gold.er_index.invalid_raw.
VALUE_RULES: dict[str, tuple[str, str]] = {     # column -> (SQL condition on the column, wording)
    "pgdp": ("pgdp > 0", "must be > 0"),                        # GDP per capita, 元
    "fdi": ("fdi >= 0", "must be >= 0"),                        # FDI actually used, 万美元
    "deposits_loans": ("deposits_loans >= 0", "must be >= 0"),  # year-end deposits + loans, 万元
    "gdp": ("gdp > 0", "must be > 0"),                          # GDP, 万元
    "ins": ("ins BETWEEN 0 AND 100", "must lie in 0-100 (%)"),  # tertiary share of GDP, %
    "disputes": ("disputes >= 0", "must be a whole number >= 0"),
    "grants": ("grants >= 0", "must be a whole number >= 0"),
}
_INTEGRAL = ("disputes", "grants")

CITY_CONTROLS = tables.TableSpec(
    name="silver.city_controls",
    schema=_fields(("city_code", _S), ("city_name", _S), ("province_code", _S), ("year", _I),
                   *[(c, _D) for c in CITY_CONTROL_VALUES],
                   ("city_raw", _S), ("source_file", _S), ("source_row", _L)),
    not_null=("city_code", "city_name", "province_code", "year", "source_file", "source_row"),
    checks={"valid_values": " AND ".join([_YEARS, _LINEAGE] + [f"({c} IS NULL OR {VALUE_RULES[c][0]})"
                                                              for c in CONTROL_VALUES])},
    comment="City yearbook controls (SPEC §5), one row per city unit and year; gaps are nulls",
    keys=KEYS["city_controls"],
)

PROVINCE_IP = tables.TableSpec(
    name="silver.province_ip",
    schema=_fields(("province_code", _S), ("province_name", _S), ("year", _I), ("disputes", _L), ("grants", _L),
                   ("province_raw", _S), ("source_file", _S), ("source_row", _L)),
    not_null=("province_code", "province_name", "year", "source_file", "source_row"),
    checks={"valid_values": f"{_YEARS} AND {_LINEAGE} AND (disputes IS NULL OR disputes >= 0) "
                            "AND (grants IS NULL OR grants >= 0)"},
    comment="Provincial IP statistics (SPEC §1): patent infringement disputes handled, patents granted",
    keys=KEYS["province_ip"],
)

CITY_ATTRIBUTES = tables.TableSpec(
    name="silver.city_attributes",
    schema=_fields(("city_code", _S), ("city_name", _S), ("province_code", _S), ("admin_level", _S), ("cgl", _I),
                   ("hsr_open_year", _I), ("city_raw", _S), ("source_file", _S), ("source_row", _L)),
    not_null=("city_code", "city_name", "province_code", "source_file", "source_row"),
    checks={"valid_values": f"{_LINEAGE} AND (admin_level IS NULL) = (cgl IS NULL) AND (cgl IS NULL OR cgl IN (0, 1)) "
                            f"AND (hsr_open_year IS NULL OR hsr_open_year BETWEEN {PLAUSIBLE_YEARS[0]} AND {PLAUSIBLE_YEARS[1]})"},
    comment="City attributes (SPEC §3, §5): administrative level, cgl, high-speed-rail opening year (null = none)",
    keys=KEYS["city_attributes"],
)

CONTROL_REJECTS = tables.TableSpec(
    name="bronze.control_rejects",
    schema=_fields(("kind", _S), ("source_file", _S), ("source_row", _L), ("reason", _S), ("detail", _S),
                   ("raw_record", _S)),
    not_null=("kind", "source_file", "source_row", "reason"),
    checks={"valid_values": f"{_LINEAGE} AND ("
                            + " OR ".join(f"(kind = '{k}' AND reason IN ({_in(r)}))" for k, r in REJECT_REASONS.items())
                            + ")"},
    comment="rows of the panel inputs the controls stage refused, with reason, lineage and the raw record",
    keys=("kind", "source_file", "source_row"),
)

SILVER: dict[str, tables.TableSpec] = {"city_controls": CITY_CONTROLS, "province_ip": PROVINCE_IP,
                                       "city_attributes": CITY_ATTRIBUTES}


# --------------------------------------------------------------------------- input files

def load_input_confs(path: Path | None = None) -> dict[str, KindConf]:
    """The panel-input sections of conf/headers.yaml, validated like the patent sections."""
    path = path or conf_file("headers.yaml")
    return kind_confs(load_yaml(path) or {}, path, KINDS)


def inspect_inputs(input_dir: Path, reader: IngestConf) -> dict[str, list[InputFile]]:
    """Every panel-input file with its format, encoding, sha256 and header mapping, checked as
    ingest checks a dump file (`filechecks.check_file`, with the panel-input header sections in
    `reader.kinds`). A missing folder, an empty folder, an unknown format, an unusable file or a
    missing required column is a UserError."""
    from greenlink.bronze.filechecks import check_file

    if not input_dir.is_dir():
        raise UserError(f"input folder not found: {input_dir}")
    need = "the controls stage needs yearbook/, province/ and cities/, docs/panel.md"
    return {kind: [check_file(kind, p, rel, fmt, reader) for p, rel, fmt in list_folder(input_dir, FOLDERS[kind], need)]
            for kind in KINDS}


# --------------------------------------------------------------------------- names (driver)

@dataclass(frozen=True)
class Place:
    """Resolution of one name as written: the unit, or why not."""

    code: str | None
    reason: str | None = None
    detail: str | None = None


class PlaceNames:
    """City and province names as panel inputs write them -> gazetteer units.

    City keys: full name (苏州市), short name (苏州), `<short>州` of autonomous prefectures
    (恩施州), the 6-digit city_code, and conf/panel.yaml `city_aliases`. A key naming more than
    one unit is ambiguous; province names count as units here, so 吉林 (吉林市 or 吉林省) and
    海南 (海南藏族自治州 or 海南省) are ambiguous unless the row's province column settles it.
    """

    def __init__(self, city_aliases: Mapping[str, str]) -> None:
        from greenlink.reference.gazetteer import cities, city_keys, province_lookup, provinces

        units = cities()
        prov = provinces()
        self.city_name = dict(zip(units["city_code"], units["city_name"]))
        self.province_of = dict(zip(units["city_code"], units["province_code"]))
        self.province_name = dict(zip(prov["province_code"], prov["province_name"]))
        self._provinces = province_lookup(prov)
        keys: dict[str, set[str]] = {}

        def add(name: str, code: str) -> None:
            keys.setdefault(text_key(name), set()).add(code)

        for code, name, short in zip(units["city_code"], units["city_name"], units["short_name"]):
            for key in (*city_keys(name, short), code):
                add(key, code)
        for name, code in city_aliases.items():
            add(name, code)
        municipalities = set(units.loc[units["is_municipality"], "city_code"])
        for code, name, short in zip(prov["province_code"], prov["province_name"], prov["short_name"]):
            if code not in municipalities:           # 北京 the province is 北京 the city
                add(name, "P" + code)
                add(short, "P" + code)
        self._keys = {k: frozenset(v) for k, v in keys.items()}

    def _describe(self, code: str) -> str:
        if code.startswith("P"):
            return f"the province {self.province_name[code[1:]]}"
        return f"{self.city_name[code]} ({code})"

    def province(self, raw: str | None) -> Place:
        """A province column's value -> province_code (empty: Place(None) without reason)."""
        from greenlink.reference.gazetteer import resolve_province

        if not text_key(raw):
            return Place(None)
        got = resolve_province(raw, self._provinces)
        if got is None:
            return Place(None, "unknown_province", f"{raw!r} is not a province-level unit")
        return Place(got[0])

    def city(self, raw: str | None, province_raw: str | None = None) -> Place:
        """A city name (and, if the file has one, the row's province) -> city_code, or the reason."""
        key = text_key(raw)
        if not key:
            return Place(None, "unknown_city", "empty city name")
        cands = self._keys.get(key, frozenset())
        cities = sorted(c for c in cands if not c.startswith("P"))
        prov = self.province(province_raw)
        if prov.reason:
            return prov
        if prov.code is not None:
            inside = [c for c in cities if self.province_of[c] == prov.code]
            if len(inside) == 1:
                return Place(inside[0])
            if cities and not inside:
                return Place(None, "province_mismatch",
                             f"{raw!r} is {', '.join(map(self._describe, cities))}, not in "
                             f"{self.province_name[prov.code]}")
        if not cands:
            return Place(None, "unknown_city", f"{raw!r} is not the name of a prefecture-level city unit")
        if len(cands) == 1 and cities:
            return Place(cities[0])
        if not cities:
            return Place(None, "unknown_city", f"{raw!r} names a province, not a city unit")
        return Place(None, "ambiguous_city",
                     f"{raw!r} may be {' or '.join(self._describe(c) for c in sorted(cands))}; "
                     "write the full name or add the province")


def admin_level_of(raw: str | None, levels: Mapping[str, str], cgl_levels: frozenset[str]) -> tuple:
    """(canonical level, cgl, reason, detail) of an administrative-level cell; empty -> all null."""
    key = text_key(raw)
    if not key:
        return None, None, None, None
    level = levels.get(key)
    if level is None:
        return None, None, "unknown_admin_level", f"{raw!r} is not a listed administrative level (conf/panel.yaml)"
    return level, int(level in cgl_levels), None, None


def resolve_values(df: DataFrame, cols: Sequence[str], fn: Callable[..., tuple], schema: T.StructType) -> DataFrame:
    """`df` plus the fields of `schema`, computed on the driver by `fn(*values of cols)` once per
    distinct combination of `cols` (names and levels of a panel input: a few hundred)."""
    spark = df.sparkSession
    distinct = [tuple(r) for r in df.select(*cols).distinct().collect()]
    key_fields = [T.StructField(f"_k{i}", df.schema[c].dataType) for i, c in enumerate(cols)]
    lookup = spark.createDataFrame([(*k, *fn(*k)) for k in sorted(distinct, key=repr)],
                                   T.StructType(key_fields + list(schema.fields)))
    cond = [df[c].eqNullSafe(lookup[f"_k{i}"]) for i, c in enumerate(cols)]
    return df.join(F.broadcast(lookup), cond, "left").drop(*[f"_k{i}" for i in range(len(cols))])


_PLACE_SCHEMA = _fields(("_code", _S), ("_place_reason", _S), ("_place_detail", _S))


def _place_row(p: Place) -> tuple:
    return p.code, p.reason, p.detail


def with_cities(parsed: DataFrame, names: PlaceNames) -> DataFrame:
    """Parsed rows (columns city, province) plus city_code, city_name, province_code and the
    name's reject reason/detail."""
    out = resolve_values(parsed, ["city", "province"], lambda c, p: _place_row(names.city(c, p)), _PLACE_SCHEMA)
    name = F.create_map(*[F.lit(x) for kv in sorted(names.city_name.items()) for x in kv])
    prov = F.create_map(*[F.lit(x) for kv in sorted(names.province_of.items()) for x in kv])
    return (out.withColumnRenamed("_code", "city_code")
            .withColumn("city_name", name[F.col("city_code")])
            .withColumn("province_code", prov[F.col("city_code")]))


def with_provinces(parsed: DataFrame, names: PlaceNames) -> DataFrame:
    """Parsed rows (column province) plus province_code, province_name and the reject reason."""
    def one(raw: str | None) -> tuple:
        p = names.province(raw)
        return _place_row(p if p.code or p.reason else Place(None, "unknown_province", "empty province name"))

    out = resolve_values(parsed, ["province"], one, _PLACE_SCHEMA)
    pname = F.create_map(*[F.lit(x) for kv in sorted(names.province_name.items()) for x in kv])
    return (out.withColumnRenamed("_code", "province_code")
            .withColumn("province_name", pname[F.col("province_code")]))


# --------------------------------------------------------------------------- cell parsing (Spark)

_TRIM = r"^[\s\u3000\ufeff]+|[\s\u3000\ufeff]+$"
_THOUSANDS = r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$"
_NUMBER = r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$"
_YEAR = r"^(\d{4})(\.0+)?年?$"


def cell_text(c: Column, markers: Sequence[str]) -> Column:
    """A cell as text: full-width forms folded, trimmed; null when empty or a missing marker."""
    t = F.regexp_replace(fold_width(c), _TRIM, "")
    return F.when(c.isNull() | t.isin(list(markers)), F.lit(None).cast("string")).otherwise(t)


def number(text: Column) -> Column:
    """Double of a cleaned cell (`1,234.5`, `30.8%`, `1e3`); null when it is not a number
    (NaN and Infinity are not numbers here)."""
    s = F.when(text.rlike(_THOUSANDS), F.regexp_replace(text, ",", "")).otherwise(text)
    s = F.regexp_replace(s, "%$", "")
    return F.when(s.rlike(_NUMBER), s.cast("double"))


def year_number(text: Column) -> Column:
    """Year of a cleaned cell (`2015`, `2015年`, `2015.0`) within PLAUSIBLE_YEARS; else null."""
    y = F.regexp_extract(text, _YEAR, 1)
    y = F.when(y != "", y.cast("int"))
    return F.when(y.between(*PLAUSIBLE_YEARS), y)


def with_numbers(df: DataFrame, cols: Sequence[str], markers: Sequence[str]) -> DataFrame:
    """Each text column `c` replaced by its number (double), its cleaned text kept as `_t_c`."""
    df = df.select("*", *[cell_text(F.col(c), markers).alias(f"_t_{c}") for c in cols])
    return df.withColumns({c: number(F.col(f"_t_{c}")) for c in cols})


def value_problem(cols: Sequence[str]) -> tuple[Column, Column]:
    """(bad_value or null, detail) for the first of `cols` (as made by `with_numbers`) that is
    not a number or breaks its VALUE_RULES condition (counts must also be whole numbers)."""
    reason, detail = F.lit(None).cast("string"), F.lit(None).cast("string")
    for c in reversed(cols):                      # built inside out: the first column wins
        text, v = F.col(f"_t_{c}"), F.col(c)
        bad = text.isNotNull() & v.isNull()
        why = F.format_string(f"{c}: %s is not a number", text)
        if c in VALUE_RULES:
            rule = F.expr(VALUE_RULES[c][0])
            if c in _INTEGRAL:
                rule = rule & (v == F.floor(v))
            broken = v.isNotNull() & ~rule
            why = F.when(bad, why).otherwise(F.format_string(f"{c}: %s {VALUE_RULES[c][1]}", text))
            bad = bad | broken
        reason = F.when(bad, F.lit("bad_value")).otherwise(reason)
        detail = F.when(bad, why).otherwise(detail)
    return reason, detail


def year_problem(year: Column, text: Column) -> tuple[Column, Column]:
    """(bad_year or null, detail) for a year column made by `year_number`."""
    bad = year.isNull()
    return (F.when(bad, F.lit("bad_year")),
            F.when(bad, F.format_string(f"year %s is not a year in {PLAUSIBLE_YEARS[0]}-{PLAUSIBLE_YEARS[1]}",
                                        F.coalesce(text, F.lit("(empty)")))))


# --------------------------------------------------------------------------- checks (pure)

_BASE = ("source_file", "source_row", "raw_record")


def _malformed() -> tuple[Column, Column]:
    m = F.col("malformed")
    return F.when(m.isNotNull(), F.lit("malformed_row")), m


def check_city_controls(parsed: DataFrame, names: PlaceNames, markers: Sequence[str]) -> DataFrame:
    """Reader rows of yearbook files -> rows with the silver.city_controls columns, reason, detail."""
    df = with_numbers(with_cities(parsed, names), CITY_CONTROL_VALUES, markers)
    year_text = cell_text(F.col("year"), markers)
    year = year_number(year_text)
    reason, detail = first_problem(_malformed(), (F.col("_place_reason"), F.col("_place_detail")),
                             year_problem(year, year_text), value_problem(CITY_CONTROL_VALUES))
    out = df.select(*_BASE, "city_code", "city_name", "province_code", year.alias("year"), *CITY_CONTROL_VALUES,
                    F.col("city").alias("city_raw"), reason.alias("reason"), detail.alias("detail"))
    return flag_duplicates(out, KEYS["city_controls"], CITY_CONTROL_VALUES)


def check_province_ip(parsed: DataFrame, names: PlaceNames, markers: Sequence[str]) -> DataFrame:
    """Reader rows of province IP files -> rows with the silver.province_ip columns, reason, detail."""
    counts = ("disputes", "grants")
    df = with_numbers(with_provinces(parsed, names), counts, markers)
    year_text = cell_text(F.col("year"), markers)
    year = year_number(year_text)
    reason, detail = first_problem(_malformed(), (F.col("_place_reason"), F.col("_place_detail")),
                             year_problem(year, year_text), value_problem(counts))
    out = df.select(*_BASE, "province_code", "province_name", year.alias("year"),
                    *[F.col(c).cast("long").alias(c) for c in counts],
                    F.col("province").alias("province_raw"), reason.alias("reason"), detail.alias("detail"))
    return flag_duplicates(out, KEYS["province_ip"], counts)


def check_city_attributes(parsed: DataFrame, names: PlaceNames, conf: PanelConf) -> DataFrame:
    """Reader rows of city attribute files -> rows with the silver.city_attributes columns, reason, detail."""
    df = with_cities(parsed, names)
    level_schema = _fields(("_level", _S), ("cgl", _I), ("_level_reason", _S), ("_level_detail", _S))
    df = resolve_values(df, ["admin_level"], lambda raw: admin_level_of(raw, conf.admin_levels, conf.cgl_levels),
                        level_schema)
    hsr_text = cell_text(F.col("hsr_open_year"), conf.missing_markers)
    hsr = year_number(hsr_text)
    bad_hsr = hsr_text.isNotNull() & hsr.isNull()
    reason, detail = first_problem(
        _malformed(), (F.col("_place_reason"), F.col("_place_detail")),
        (F.col("_level_reason"), F.col("_level_detail")),
        (F.when(bad_hsr, F.lit("bad_hsr_year")),
         F.format_string(f"HSR opening year %s is not a year in {PLAUSIBLE_YEARS[0]}-{PLAUSIBLE_YEARS[1]}", hsr_text)))
    out = df.select(*_BASE, "city_code", "city_name", "province_code", F.col("_level").alias("admin_level"),
                    "cgl", hsr.alias("hsr_open_year"), F.col("city").alias("city_raw"),
                    reason.alias("reason"), detail.alias("detail"))
    return flag_duplicates(out, KEYS["city_attributes"], ("admin_level", "hsr_open_year"))


def flag_duplicates(df: DataFrame, keys: Sequence[str], values: Sequence[str]) -> DataFrame:
    """Among rows without a reason, several rows for one key: when they all carry the same
    values, the first (by source_file, source_row) is kept and the others are `duplicate_row`;
    when their values differ, all of them are `conflicting_rows` (nothing says which is right)."""
    ok = F.col("reason").isNull()
    whole = Window.partitionBy(*keys)
    versions = F.size(F.collect_set(F.when(ok, F.struct(*values))).over(whole))
    n_rows = F.sum(F.when(ok, 1).otherwise(0)).over(whole)
    key_text = F.concat_ws(" ", *[F.col(k).cast("string") for k in keys])
    conflict = ok & (F.col("_versions") > 1)
    return (mark_first(df, keys, ok).withColumn("_versions", versions).withColumn("_n", n_rows)
            .withColumn("detail", F.when(conflict, F.format_string("%d rows for %s with different values",
                                                                   F.col("_n"), key_text))
                        .when(F.col("_repeat"), F.concat(F.lit("same values as "), first_at()))
                        .otherwise(F.col("detail")))
            .withColumn("reason", F.when(conflict, F.lit("conflicting_rows"))
                        .when(F.col("_repeat"), F.lit("duplicate_row")).otherwise(F.col("reason")))
            .drop("_versions", "_n", "_first", "_repeat"))


def accepted(checked: DataFrame, spec: tables.TableSpec) -> DataFrame:
    return accepted_rows(checked, spec.schema.fieldNames())


def rejected(checked: DataFrame, kind: str) -> DataFrame:
    return checked.where(F.col("reason").isNotNull()).select(
        F.lit(kind).alias("kind"), "source_file", "source_row", "reason",
        printable_column(F.col("detail"), _DETAIL_CHARS).alias("detail"), "raw_record")


# --------------------------------------------------------------------------- sample rule (pure)

def city_units(spark: SparkSession) -> DataFrame:
    """Every city unit of SPEC §3 (gazetteer.cities()): city_code, city_name, province_code,
    longitude, latitude."""
    from greenlink.reference.gazetteer import cities

    c = cities()
    rows = list(zip(c["city_code"], c["city_name"], c["province_code"], c["longitude"].astype(float),
                    c["latitude"].astype(float)))
    return spark.createDataFrame(rows, "city_code string, city_name string, province_code string, "
                                       "longitude double, latitude double")


def sample_log(units: DataFrame, controls: DataFrame, columns: Sequence[str], years: tuple[int, int],
               max_missing_share: float, min_observed_years: int = 1) -> DataFrame:
    """SPEC §3 sample rule -> gold.sample_log rows, one per city unit of `units`.

    Cells = `columns` × years; an absent city-year counts as all its cells missing. Dropped,
    first rule that applies: `no_yearbook_rows` (no row in the years), `too_many_missing`
    (missing_share > max_missing_share), `unobserved_column: a, b` (columns with fewer than
    min_observed_years observed values).
    """
    n_years = years[1] - years[0] + 1
    n_values = len(columns) * n_years
    per_city = (controls.where(F.col("year").between(*years)).groupBy("city_code")
                .agg(F.count(F.lit(1)).alias("_rows"), *[F.count(c).alias(f"_obs_{c}") for c in columns]))
    j = units.join(per_city, "city_code", "left")
    obs = {c: F.coalesce(F.col(f"_obs_{c}"), F.lit(0)) for c in columns}
    observed = sum((obs[c] for c in columns), F.lit(0))
    n_missing = (F.lit(n_values) - observed).cast("long")
    share = n_missing / F.lit(float(n_values))
    unobserved = F.array_compact(F.array(*[F.when(obs[c] < min_observed_years, F.lit(c)) for c in columns]))
    reason = (F.when(F.coalesce(F.col("_rows"), F.lit(0)) == 0, F.lit("no_yearbook_rows"))
              .when(share > F.lit(float(max_missing_share)), F.lit("too_many_missing"))
              .when(F.size(unobserved) > 0, F.concat(F.lit("unobserved_column: "), F.array_join(unobserved, ", "))))
    return j.select("city_code", "city_name", "province_code", "longitude", "latitude",
                    F.lit(n_values).cast("long").alias("n_values"), n_missing.alias("n_missing"),
                    share.alias("missing_share"), F.lit(float(max_missing_share)).alias("threshold"),
                    reason.isNull().alias("in_sample"), reason.alias("reason"))


def er_input(controls: DataFrame, sample: DataFrame) -> DataFrame:
    """The er indicators of the sample cities (city_code, year, ER_INDICATORS)."""
    return (controls.join(sample.select("city_code"), "city_code", "left_semi")
            .select("city_code", "year", *ER_INDICATORS))


# --------------------------------------------------------------------------- stage

def _check_kind(kind: str, parsed: DataFrame, names: PlaceNames, conf: PanelConf) -> DataFrame:
    if kind == "city_controls":
        return check_city_controls(parsed, names, conf.missing_markers)
    if kind == "province_ip":
        return check_province_ip(parsed, names, conf.missing_markers)
    return check_city_attributes(parsed, names, conf)


def check_kind(spark: SparkSession, run, kind: str, files: Sequence[InputFile], names: PlaceNames,
               conf: PanelConf, kconf: KindConf) -> DataFrame:
    """Read, check and reconcile one panel input, write its silver table; returns the checked
    rows (persisted: the caller writes their rejects, then unpersists them)."""
    from greenlink.bronze import readers
    from greenlink.bronze.job import file_counts, reconcile, record_counts, rows_written

    parsed, rows_in = readers.read_kind(spark, files, kconf, run.log)
    checked = _check_kind(kind, parsed, names, conf).persist()
    got = file_counts(checked, REJECT_REASONS[kind])
    reconcile(files, rows_in, got)                     # rows in = accepted + rejected, rows exactly 1..n
    record_counts(run, kind, files, rows_in, got, REJECT_REASONS[kind])
    spec = SILVER[kind]
    tables.write(accepted(checked, spec), spec, mode="overwrite")
    if rows_written(spark, spec.name) != run.counts[f"{kind}.accepted"]:
        raise RuntimeError(f"controls: {spec.name} holds {rows_written(spark, spec.name)} rows after the write, "
                           f"expected {run.counts[f'{kind}.accepted']}")
    run.log(f"{kind}: {run.counts[f'{kind}.rows_in']} rows, {run.counts[f'{kind}.accepted']} accepted, "
            f"{run.counts[f'{kind}.rejected']} rejected")
    return checked


def write_rejects(spark: SparkSession, run, checked: Mapping[str, DataFrame]) -> None:
    """Replace bronze.control_rejects with the rejected rows of every kind, and check it holds
    exactly the counted rejects."""
    parts = [rejected(df, kind) for kind, df in checked.items()]
    rows = parts[0]
    for p in parts[1:]:
        rows = rows.unionByName(p)
    tables.write(rows, CONTROL_REJECTS, mode="overwrite")
    held = {r["kind"]: r["count"] for r in tables.read(spark, CONTROL_REJECTS.name).groupBy("kind").count().collect()}
    want = {k: run.counts[f"{k}.rejected"] for k in checked if run.counts[f"{k}.rejected"]}
    if held != want:
        raise RuntimeError(f"controls: {CONTROL_REJECTS.name} holds {held} rejects after the write, expected {want}")


def summary(files: Mapping[str, Sequence[InputFile]], counts: Mapping[str, int]) -> str:
    lines = [("file", "rows_in", "accepted", "rejected", "reasons")]
    for kind in KINDS:
        for f in files[kind]:
            reasons = " ".join(f"{k.split(':rejected.')[1]}={v}" for k, v in sorted(counts.items())
                               if k.startswith(f"{f.relpath}:rejected.") and v)
            lines.append((f.relpath, *(str(counts.get(f"{f.relpath}:{k}", 0)) for k in ("rows_in", "accepted",
                                                                                       "rejected")), reasons))
    widths = [max(len(r[i]) for r in lines) for i in range(5)]
    return "\n".join("  ".join(c.ljust(w) if i in (0, 4) else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
                     .rstrip() for r in lines)


@dataclass(frozen=True)
class ControlsConfig:
    """What `greenlink controls` runs on (the command's options as values)."""

    input: str | None = None                  # raw input folder holding yearbook/, province/, cities/
    years: tuple[int, int] | None = None      # study years (None: conf/panel.yaml)
    panel_conf: str | None = None             # panel settings (None: conf/panel.yaml)


def plan(config: ControlsConfig) -> tuple[Path, PanelConf, tuple[int, int], dict[str, KindConf],
                                          dict[str, list[InputFile]]]:
    """Everything checked before Spark work: input folder, conf/panel.yaml, years, headers and
    the files (layout, format and header errors are one-line UserErrors)."""
    from greenlink.bronze.layout import load_conf

    if not config.input:
        raise UserError("--input DIR is required (a folder with yearbook/, province/ and cities/)")
    input_dir = Path(config.input).expanduser().resolve()
    conf = PanelConf.load(config.panel_conf)
    years = config.years or conf.years
    kconfs = load_input_confs()
    # ingest's reader settings (xlsx size, encoding evidence) with the panel-input header sections
    reader = replace(load_conf(), kinds=kconfs)
    files = inspect_inputs(input_dir, reader)
    return input_dir, conf, years, kconfs, files


def run(spark: SparkSession, config: ControlsConfig = ControlsConfig(),
        parent_run_id: str | None = None) -> dict[str, int]:
    """Panel inputs -> silver.city_controls, silver.province_ip, silver.city_attributes,
    bronze.control_rejects; the sample rule -> gold.sample_log; er -> gold.er_index,
    gold.er_weights. Returns the counts recorded in _meta.runs."""
    from greenlink.bronze.job import _DECODE_CONF
    from greenlink.core.session import session_conf
    from greenlink.core.runs import Run

    input_dir, conf, years, kconfs, files = plan(config)
    inputs = {"input": str(input_dir), "panel_conf": conf.source,
              **{f"file:{f.relpath}": f.describe() for kind in KINDS for f in files[kind]}}
    with Run(spark, JOB, inputs=inputs, args={"years": years}, parent_run_id=parent_run_id) as r, \
            session_conf(spark, _DECODE_CONF):
        names = PlaceNames(conf.city_aliases)
        checked: dict[str, DataFrame] = {}
        try:
            for kind in KINDS:
                checked[kind] = check_kind(spark, r, kind, files[kind], names, conf, kconfs[kind])
            write_rejects(spark, r, checked)
        finally:
            for df in checked.values():
                df.unpersist()
        print(f"greenlink controls: run {r.run_id}\n{summary(files, r.counts)}", file=sys.stderr)

        controls = tables.read(spark, CITY_CONTROLS.name)
        log = sample_log(city_units(spark), controls, conf.sample_columns, years, conf.max_missing_share,
                         conf.min_observed_years)
        tables.write(log, SAMPLE_LOG, mode="overwrite")
        stats = (tables.read(spark, SAMPLE_LOG.name)
                 .groupBy("in_sample", F.regexp_extract("reason", "^[a-z_]+", 0).alias("why")).count().collect())
        r.count("sample.units", sum(s["count"] for s in stats))
        r.count("sample.kept", sum(s["count"] for s in stats if s["in_sample"]))
        r.count("sample.dropped", sum(s["count"] for s in stats if not s["in_sample"]))
        for s in stats:
            if not s["in_sample"]:
                r.count(f"sample.dropped.{s['why']}", s["count"])
        if not r.counts["sample.kept"]:
            raise UserError(f"the sample rule kept no city (max_missing_share {conf.max_missing_share} in "
                            f"{conf.source}); check the yearbook input")
        r.log(f"sample: {r.counts['sample.kept']} of {r.counts['sample.units']} city units kept")

        sample = tables.read(spark, SAMPLE_LOG.name).where(F.col("in_sample"))
        index, weights = build_er(er_input(controls, sample), years=years)
        write_er(index, weights)
        _count_er(r, spark)
        r.log("er written")
        return dict(r.counts)


def _count_er(run, spark: SparkSession) -> None:
    """er counts: city-years, those with er, invalid raw cells, indicator cells per fill flag."""
    from greenlink.gold.entropy import ER_INDEX, flag_column

    idx = tables.read(spark, ER_INDEX.name)
    row = idx.agg(F.count(F.lit(1)).alias("rows"), F.count("er").alias("with_er"),
                  F.sum(F.size("invalid_raw")).alias("invalid")).first()
    run.count("er.city_years", row["rows"])
    run.count("er.with_er", row["with_er"])
    run.count("er.invalid_raw_cells", row["invalid"] or 0)
    flags = (idx.select(F.explode(F.array(*[F.col(flag_column(i)) for i in ER_INDICATORS])).alias("flag"))
             .groupBy("flag").count().collect())
    for fr in flags:
        run.count(f"er.cells.{fr['flag']}", fr["count"])
