"""Applicant lists: splitting, name clean-up and organisation types (issue 3 item 2).

SPEC §1: patent records list their applicants `;`-separated, in order; transfer records
list owners before and after the same way. This module turns such a list into one row
per (record, position, name) and gives each name an organisation type from the ordered
rules in `conf/org_types.yaml`. Everything is Spark column expressions (no Python UDF).
Rules, order and limits are documented in docs/locate.md.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from greenlink.core.config import conf_file, load_yaml
from greenlink.core.errors import UserError
from greenlink.core.text import fold_width

ORG_TYPES = ("university", "institute", "enterprise", "individual", "other")

# Separators between names: `;` (and `；` after folding) always; a comma (`,` / `，`) only
# between two Chinese characters (spaces around it allowed) — Latin names contain commas ("SONY CO., LTD."), and
# registered Chinese names cannot contain one.
SEPARATOR = r";|(?<=\p{IsHan})\s*,\s*(?=\p{IsHan})"
# An entry that cleans to nothing (white space only) lies between two `;` or a `;` and an end
# of the list: a comma separates only between Chinese characters, so never next to one.
_EMPTY_ENTRY = r"(?:^|;)[\s\u00a0]*(?:;|$)"



def tidy_spaces(col: Column) -> Column:
    """Trim, collapse runs of white space (incl. no-break space) to one space, and drop
    spaces next to a Chinese character (Chinese names carry no meaningful spaces, and
    near-duplicate records differ in exactly such spacing)."""
    col = F.regexp_replace(col, r"[\s\u00a0]+", " ")
    col = F.regexp_replace(col, r"(?<=\p{IsHan}) | (?=\p{IsHan})", "")
    return F.trim(col)


def split_names(col: Column) -> Column:
    """`;`-separated list -> array of cleaned, non-empty names in their original order
    (empty entries are dropped, so `A;;B` gives [A, B]); null list -> empty array."""
    parts = F.split(fold_width(F.coalesce(col, F.lit(""))), SEPARATOR)
    cleaned = F.transform(parts, lambda p: tidy_spaces(p))
    return F.filter(cleaned, lambda p: p != "")


def _name_parts(col: Column) -> tuple[Column, Column]:
    """(gappy, parts) of an applicant list: `gappy` when it has an entry that cleans to
    nothing; `parts` is then `split_names` (lambdas: drop the empty entries, renumber), else the
    plain split, whose parts are the names still to be cleaned (`tidy_spaces`). Spark evaluates
    lambdas without generated code, so only the rare gappy lists take them (issue 22)."""
    folded = fold_width(F.coalesce(col, F.lit("")))
    gappy = folded.rlike(_EMPTY_ENTRY)
    return gappy, F.when(gappy, split_names(col)).otherwise(F.split(folded, SEPARATOR))


def count_names(col: Column) -> Column:
    """`size(split_names(col))`: a field without `;`/`,` (or their full-width forms) is one
    name, none when it is only white space; otherwise as many as `_name_parts` (14 % of
    classify's green phase at 1M went to this count through the lambdas, issue 22)."""
    c = F.coalesce(col, F.lit(""))
    one = ~(c.contains(";") | c.contains("\uff1b") | c.contains(",") | c.contains("\uff0c"))
    return F.when(one, c.rlike(r"[^\s\u00a0\u3000]").cast("int")).otherwise(F.size(_name_parts(col)[1]))


def applicant_links(patents: DataFrame) -> DataFrame:
    """One row per applicant of each patent.

    In:  application_no, year, applicants_raw, applicant_address
    Out: application_no, year, applicant_order (1-based, after dropping empty entries),
         name, address (the record's applicant_address on order 1 — it belongs to the
         first applicant only — null on the others).
    Patents whose list is empty yield no row (see `patents_without_applicant`).
    """
    # the names of a list without an empty entry (nearly all) are cleaned here, as plain columns
    gappy, parts = _name_parts(F.col("applicants_raw"))
    exploded = (patents.select("application_no", "year", "applicant_address", gappy.alias("_gappy"),
                               F.posexplode(parts).alias("pos", "part"))
                .withColumn("name", F.when(F.col("_gappy"), F.col("part")).otherwise(tidy_spaces(F.col("part")))))
    return exploded.select(
        "application_no", "year",
        (F.col("pos") + 1).alias("applicant_order"),
        "name",
        F.when(F.col("pos") == 0, F.col("applicant_address")).alias("address"))


def patents_without_applicant(patents: DataFrame) -> DataFrame:
    """Patents whose applicant list is empty after splitting (reject reason `no_applicant`,
    docs/raw_formats.md). Out: application_no, year."""
    return (patents.where(F.size(split_names(F.col("applicants_raw"))) == 0)
            .select("application_no", "year"))


# --- organisation types --------------------------------------------------------------

@dataclass(frozen=True)
class OrgTypeRule:
    org_type: str
    patterns: tuple[str, ...]


@dataclass(frozen=True)
class OrgTypeRules:
    rules: tuple[OrgTypeRule, ...]
    default: str


def load_org_type_rules(path: str | Path | None = None) -> OrgTypeRules:
    """The ordered rules of conf/org_types.yaml, validated (known types, compilable
    patterns); problems are one-line UserErrors naming the file."""
    path = Path(path) if path else conf_file("org_types.yaml")
    data = load_yaml(path)
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        raise UserError(f"{path}: expected a mapping with a `rules` list")
    default = data.get("default", "other")
    if default not in ORG_TYPES:
        raise UserError(f"{path}: default type {default!r} is not one of {', '.join(ORG_TYPES)}")
    rules = []
    for i, rule in enumerate(data["rules"], 1):
        if not isinstance(rule, dict) or rule.get("type") not in ORG_TYPES:
            raise UserError(f"{path}: rule {i} needs `type` in {', '.join(ORG_TYPES)}")
        patterns = rule.get("patterns") or []
        if not patterns or not all(isinstance(p, str) and p for p in patterns):
            raise UserError(f"{path}: rule {i} ({rule['type']}) needs a non-empty list of `patterns`")
        for p in patterns:
            try:
                re.compile(p)
            except re.error as exc:
                raise UserError(f"{path}: rule {i} ({rule['type']}): bad pattern {p!r} ({exc})") from None
        rules.append(OrgTypeRule(rule["type"], tuple(patterns)))
    return OrgTypeRules(tuple(rules), default)


def org_type(name: Column, rules: OrgTypeRules | None = None) -> Column:
    """Organisation type of a cleaned name: the type of the first rule one of whose
    patterns matches (`rlike`), else the default."""
    rules = rules or load_org_type_rules()
    expr = None
    for rule in rules.rules:
        cond = None
        for p in rule.patterns:
            c = name.rlike(p)
            cond = c if cond is None else (cond | c)
        expr = F.when(cond, F.lit(rule.org_type)) if expr is None else expr.when(cond, F.lit(rule.org_type))
    default = F.lit(rules.default)
    return default if expr is None else expr.otherwise(default)


def classify_org_type(df: DataFrame, name_col: str = "name", rules: OrgTypeRules | None = None) -> DataFrame:
    """`df` plus column `org_type` (university | institute | enterprise | individual | other)
    of the cleaned name in `name_col`."""
    return df.withColumn("org_type", org_type(F.col(name_col), rules))
