"""The controls stage's row rules (docs/panel.md): place names -> city and province units, cell
texts -> numbers and years, and each kind's checks -> rows with a reason (NULL = accepted).

Pure DataFrame -> DataFrame functions and driver-side name tables; `controls` reads the files,
runs these and writes the tables.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from greenlink.core import tables
from greenlink.core.printable import printable_column
from greenlink.core.rejects import accepted_rows, first_at, first_problem, mark_first
from greenlink.core.text import PLAUSIBLE_YEARS, fold_width, struct_type, text_key
from greenlink.gold.panel.settings import CITY_CONTROL_VALUES, PanelSettings
from greenlink.gold.tables import KEYS, VALUE_RULES
from greenlink.reference import gazetteer
from greenlink.reference.gazetteer import city_keys, province_lookup, provinces, resolve_province

_DETAIL_CHARS = 300

_S, _I, _L, _D = T.StringType(), T.IntegerType(), T.LongType(), T.DoubleType()

_INTEGRAL = ("disputes", "grants")

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
        units = gazetteer.cities()
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


_PLACE_SCHEMA = struct_type(("_code", _S), ("_place_reason", _S), ("_place_detail", _S))


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


def check_city_attributes(parsed: DataFrame, names: PlaceNames, conf: PanelSettings) -> DataFrame:
    """Reader rows of city attribute files -> rows with the silver.city_attributes columns, reason, detail."""
    df = with_cities(parsed, names)
    level_schema = struct_type(("_level", _S), ("cgl", _I), ("_level_reason", _S), ("_level_detail", _S))
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
