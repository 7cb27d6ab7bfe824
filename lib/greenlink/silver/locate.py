"""Locating applicants and transfer owners in city units (SPEC §1, §3; issue 3 item 3).

Real exports give the address of the FIRST applicant only (and of the first owner after
a transfer). So:

1. first applicant / first owner after: its record's address, parsed with cpca into an
   adcode and mapped to the prefecture-level city unit (`gazetteer.city_of_adcode`);
2. every other name (other applicants, assignors, other assignees — and a first
   applicant whose address fails): place names inside the organisation's name;
3. then the city where the same organisation most often appears as first applicant with
   a located address (ties -> smallest city_code; the count is kept as evidence);
4. otherwise unlocated, with a reason.

Individuals are never located by name or by other records (a personal name does not
identify a person); only by their own record's address.

Python runs only over DISTINCT strings (addresses, organisation names) inside
`mapInPandas` (the matchers and their reference data are in `places`); results are joined
back. Rule order, reasons and limits: docs/locate.md.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import pandas as pd
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from greenlink.core.session import persist_uncompressed
from greenlink.silver.applicants import (OrgTypeRules, applicant_links, classify_org_type, fold_width,
                                         split_names, tidy_spaces)
from greenlink.silver.places import LocateSettings, default_config, name_matcher, parse_address
from greenlink.silver.tables import APPLICANTS, ORG_LOCATIONS

# --- Spark: resolve distinct strings, join back ----------------------------------------

def clean_address(col: Column) -> Column:
    """Cleaned address (width folded, spaces tidied); empty -> null."""
    c = tidy_spaces(fold_width(col))
    return F.when(c != "", c)


_ADDRESS_OUT = "address_key string, city_code string, province_code string, reason string"
_NAME_OUT = "name string, city_code string, province_code string, reason string"


def resolve_addresses(keys: DataFrame, cfg: LocateSettings | None = None) -> DataFrame:
    """In: address_key (cleaned addresses, duplicates and nulls allowed).
    Out: one row per distinct non-null address_key: city_code, province_code, reason
    (null when located). cpca runs once per distinct address."""
    cfg = cfg or default_config()

    def resolve(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for b in batches:
            rows = [parse_address(a, cfg) for a in b["address_key"]]
            yield pd.DataFrame({"address_key": b["address_key"],
                                "city_code": [r[0] for r in rows],
                                "province_code": [r[1] for r in rows],
                                "reason": [r[2] for r in rows]})

    distinct = keys.select("address_key").where(F.col("address_key").isNotNull()).distinct()
    return distinct.mapInPandas(resolve, _ADDRESS_OUT)


def locate_names(names: DataFrame, cfg: LocateSettings | None = None) -> DataFrame:
    """In: name (cleaned organisation names; duplicates allowed).
    Out: one row per distinct name: city_code, province_code, reason (null when located)
    by the place names inside it (`NameMatcher`)."""
    cfg = cfg or default_config()

    def scan(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        matcher = name_matcher(cfg)
        for b in batches:
            rows = [matcher.locate(n) for n in b["name"]]
            yield pd.DataFrame({"name": b["name"],
                                "city_code": [r[0] for r in rows],
                                "province_code": [r[1] for r in rows],
                                "reason": [r[2] for r in rows]})

    return names.select("name").distinct().mapInPandas(scan, _NAME_OUT)


def first_applicant_evidence(first: DataFrame) -> DataFrame:
    """In: name, city_code — one row per record where the name is the first applicant and
    its address located it (individuals already removed).
    Out: name, address_city_code (the city with most such records; ties -> smallest
    city_code), evidence_count (records in that city), address_records (all records)."""
    per_city = first.groupBy("name", "city_code").agg(F.count(F.lit(1)).alias("n"))
    w = Window.partitionBy("name").orderBy(F.col("n").desc(), F.col("city_code").asc())
    total = Window.partitionBy("name")
    return (per_city
            .withColumn("address_records", F.sum("n").over(total))
            .withColumn("_r", F.row_number().over(w))
            .where("_r = 1")
            .select("name", F.col("city_code").alias("address_city_code"),
                    F.col("n").alias("evidence_count"), "address_records"))


def org_locations(typed: DataFrame, by_name: DataFrame, evidence: DataFrame) -> DataFrame:
    """One row per distinct name (columns of ORG_LOCATIONS).

    In: typed (name, org_type; distinct), by_name (`locate_names` output for the
    non-individual names), evidence (`first_applicant_evidence`).
    method: `name` if the name holds a city; else `first_applicant` if the organisation
    has located first-applicant records; else `unlocated` with the name's reason
    (`individual_no_address` for individuals, whose names are never pooled).
    evidence_count: located first-applicant records in the chosen city (0 if none)."""
    j = (typed.join(by_name.select("name", F.col("city_code").alias("n_city"),
                                   F.col("province_code").alias("n_prov"), F.col("reason").alias("n_reason")),
                    "name", "left")
         .join(evidence, "name", "left"))
    person = F.col("org_type") == "individual"
    by_nm = ~person & F.col("n_city").isNotNull()
    by_fa = ~person & ~by_nm & F.col("address_city_code").isNotNull()
    city = F.when(by_nm, F.col("n_city")).when(by_fa, F.col("address_city_code"))
    records = F.when(person, F.lit(0)).otherwise(F.coalesce(F.col("address_records"), F.lit(0)))
    return j.select(
        "name", "org_type",
        city.alias("city_code"),
        F.when(city.isNotNull(), F.concat(F.substring(city, 1, 2), F.lit("0000")))
         .when(~person, F.col("n_prov")).alias("province_code"),
        F.when(by_nm, "name").when(by_fa, "first_applicant").otherwise("unlocated").alias("method"),
        F.when(~person & (F.col("address_city_code") == city), F.col("evidence_count"))
         .otherwise(F.lit(0)).cast("long").alias("evidence_count"),
        F.when(person, "individual_no_address").when(city.isNull(), F.coalesce(F.col("n_reason"), F.lit("no_place_in_name")))
         .alias("reason"),
        records.cast("long").alias("address_records"),
        F.when(~person, F.col("address_city_code")).alias("address_city_code"),
    )


def attach_locations(df: DataFrame, name_col: str, address_key_col: str | None,
                     addresses: DataFrame, orgs: DataFrame, prefix: str = "") -> DataFrame:
    """`df` plus <prefix>org_type, city_code, province_code, method, unlocated_reason of
    the name in `name_col`.

    Precedence: the row's own address, then the organisation's location from `orgs`
    (name, then first-applicant evidence), else unlocated. With `address_key_col`, `df`
    must also carry a boolean `_has_address`: true where the record has an address field
    for this name (first applicant, first owner after) — there a null key means
    `missing_address`, and an unlocated row keeps the address's reason; elsewhere the
    name's reason. A null name (a transfer side left empty) is `no_owner`."""
    o = orgs.select(F.col("name").alias("_o_name"), F.col("org_type").alias("_o_type"),
                    F.col("city_code").alias("_o_city"), F.col("province_code").alias("_o_prov"),
                    F.col("method").alias("_o_method"), F.col("reason").alias("_o_reason"))
    a = addresses.select(F.col("address_key").alias("_a_key"), F.col("city_code").alias("_a_city"),
                         F.col("province_code").alias("_a_prov"), F.col("reason").alias("_a_reason"))
    if address_key_col is not None:
        # Join the address table only where there is a key: null keys of the other rows
        # would otherwise all land in one shuffle partition.
        keyed = df.where(F.col(address_key_col).isNotNull()).join(a, F.col(address_key_col) == F.col("_a_key"), "left")
        unkeyed = (df.where(F.col(address_key_col).isNull())
                   .select("*", *[F.lit(None).cast("string").alias(c) for c in ("_a_key", "_a_city", "_a_prov", "_a_reason")]))
        df = keyed.unionByName(unkeyed)
        has_field = F.col("_has_address")
        a_reason = F.when(has_field, F.coalesce(F.col("_a_reason"), F.when(F.col("_a_city").isNull(), F.lit("missing_address"))))
    else:
        df = df.select("*", *[F.lit(None).cast("string").alias(c) for c in ("_a_key", "_a_city", "_a_prov", "_a_reason")])
        a_reason = F.lit(None).cast("string")
    df = df.join(o, F.col(name_col) == F.col("_o_name"), "left")
    by_address = F.col("_a_city").isNotNull()
    by_org = ~by_address & F.col("_o_method").isin("name", "first_applicant")
    no_name = F.col(name_col).isNull()
    method = (F.when(by_address, "address").when(by_org, F.col("_o_method")).otherwise("unlocated"))
    out = df.select(
        "*",
        F.col("_o_type").alias(prefix + "org_type"),
        F.when(by_address, F.col("_a_city")).when(by_org, F.col("_o_city")).alias(prefix + "city_code"),
        F.when(by_address, F.col("_a_prov")).when(by_org, F.col("_o_prov"))
         .otherwise(F.coalesce(F.col("_a_prov"), F.col("_o_prov"))).alias(prefix + "province_code"),
        method.alias(prefix + "method"),
        F.when(by_address | by_org, F.lit(None))
         .when(no_name, F.lit("no_owner"))
         .otherwise(F.coalesce(a_reason, F.col("_o_reason"))).alias(prefix + "unlocated_reason"),
    )
    return out.drop("_o_name", "_o_type", "_o_city", "_o_prov", "_o_method", "_o_reason",
                    "_a_key", "_a_city", "_a_prov", "_a_reason")


# --- the whole location step -----------------------------------------------------------

@dataclass
class Located:
    """Results of `locate`. `applicants` and `org_locations` have the columns of their
    TableSpecs; `transfers` is the input plus from_*/to_* columns; `transfer_owners` has
    one row per owner of each transfer. The resolved distinct strings are persisted:
    call `unpersist()` when the tables are written."""

    applicants: DataFrame
    org_locations: DataFrame
    transfers: DataFrame
    transfer_owners: DataFrame
    _persisted: tuple[DataFrame, ...] = ()

    def unpersist(self) -> None:
        for df in self._persisted:
            df.unpersist()


def prepare_links(patents: DataFrame) -> DataFrame:
    """One row per applicant of each patent (`applicant_links`) with its cleaned `address_key`
    and `_has_address` (order 1: the record's address is the first applicant's)."""
    return (applicant_links(patents)
            .withColumn("address_key", clean_address(F.col("address")))
            .withColumn("_has_address", F.col("applicant_order") == 1)
            .drop("address"))


def prepare_transfers(transfers: DataFrame) -> DataFrame:
    """`transfers` plus `_before`, `_after` (the cleaned owner lists) and `_to_key` (the cleaned
    address of the first owner after)."""
    return transfers.select(
        "*",
        split_names(F.col("owners_before")).alias("_before"),
        split_names(F.col("owners_after")).alias("_after"),
        clean_address(F.col("current_owner_address")).alias("_to_key"))


def owner_names(tr: DataFrame) -> DataFrame:
    """Every owner name (before and after) of prepared transfers: name, duplicates kept."""
    return (tr.select(F.explode("_before").alias("name"))
            .unionByName(tr.select(F.explode("_after").alias("name"))))


def address_keys(links: DataFrame, tr: DataFrame) -> DataFrame:
    """The addresses to resolve: first applicants' and first owners' after (address_key)."""
    return (links.where(F.col("_has_address")).select("address_key")
            .unionByName(tr.select(F.col("_to_key").alias("address_key"))))


def first_located(links: DataFrame, addresses: DataFrame, typed: DataFrame) -> DataFrame:
    """name, city_code of every first applicant that is an organisation and whose record's
    address located it: the evidence `first_applicant_evidence` pools."""
    return (links.where(F.col("_has_address") & F.col("address_key").isNotNull())
            .join(addresses.where(F.col("city_code").isNotNull()).select("address_key", "city_code"), "address_key")
            .join(typed.where(F.col("org_type") != "individual").select("name"), "name")
            .select("name", "city_code"))


def located_applicants(links: DataFrame, addresses: DataFrame, orgs: DataFrame) -> DataFrame:
    """silver.applicants rows of prepared links."""
    return (attach_locations(links, "name", "address_key", addresses, orgs)
            .select(*APPLICANTS.schema.fieldNames()))


def located_transfers(tr: DataFrame, addresses: DataFrame, orgs: DataFrame) -> DataFrame:
    """Prepared transfers plus from_*/to_* columns: the first owner before and after, located."""
    out = (tr.withColumn("from_name", F.try_element_at("_before", F.lit(1)))
           .withColumn("to_name", F.try_element_at("_after", F.lit(1)))
           .withColumn("_has_address", F.lit(True)))
    out = attach_locations(out, "from_name", None, addresses, orgs, prefix="from_")
    out = attach_locations(out, "to_name", "_to_key", addresses, orgs, prefix="to_")
    return out.drop("_before", "_after", "_to_key", "_has_address")


def transfer_owners(tr: DataFrame, addresses: DataFrame, orgs: DataFrame) -> DataFrame:
    """One row per owner of each prepared transfer, located."""
    owners = (tr.select("application_no", "year", "_to_key",
                        F.posexplode("_before").alias("pos", "name"), F.lit("before").alias("side"))
              .unionByName(tr.select("application_no", "year", "_to_key",
                                     F.posexplode("_after").alias("pos", "name"), F.lit("after").alias("side")))
              .select("application_no", "year", "side", (F.col("pos") + 1).alias("owner_order"), "name",
                      F.when((F.col("side") == "after") & (F.col("pos") == 0), F.col("_to_key")).alias("address_key"),
                      ((F.col("side") == "after") & (F.col("pos") == 0)).alias("_has_address")))
    return (attach_locations(owners, "name", "address_key", addresses, orgs)
            .select("application_no", "year", "side", "owner_order", "name", "org_type",
                    "city_code", "province_code", "method", "unlocated_reason"))


def locate(patents: DataFrame, transfers: DataFrame, *, rules: OrgTypeRules | None = None,
           cfg: LocateSettings | None = None, persist: bool = True) -> Located:
    """Locate every applicant of `patents` and every owner of `transfers`.

    patents:   application_no, year, applicants_raw, applicant_address
    transfers: application_no, year, owners_before, owners_after, current_owner_address
               (other columns are kept in `Located.transfers`)
    Evidence for `first_applicant` comes from patents only (first applicants whose
    record's address located them), pooled over all years and patent types."""
    cfg = cfg or default_config()
    # Splitting and cleaning the applicant lists is regex work on every record, and four
    # steps below read the links: computed once (the raw address is not needed after it).
    links = prepare_links(patents)
    if persist:
        links = persist_uncompressed(links)
    tr = prepare_transfers(transfers)
    addresses = resolve_addresses(address_keys(links, tr), cfg)
    names = links.select("name").unionByName(owner_names(tr)).distinct()
    typed = classify_org_type(names, "name", rules)
    if persist:
        addresses, typed = persist_uncompressed(addresses), persist_uncompressed(typed)
    by_name = locate_names(typed.where(F.col("org_type") != "individual").select("name"), cfg)
    orgs = org_locations(typed, by_name, first_applicant_evidence(first_located(links, addresses, typed)))
    if persist:
        orgs = persist_uncompressed(orgs)
    return Located(located_applicants(links, addresses, orgs), orgs.select(*ORG_LOCATIONS.schema.fieldNames()),
                   located_transfers(tr, addresses, orgs), transfer_owners(tr, addresses, orgs),
                   (links, addresses, typed, orgs) if persist else ())


# --- reporting -------------------------------------------------------------------------

def location_counts(df: DataFrame, method_col: str = "method", reason_col: str = "unlocated_reason",
                    by: tuple[str, ...] = ()) -> DataFrame:
    """Links per method and unlocated reason (SPEC §1: "report how many applicant links
    were located by each method and how many stayed unlocated").
    Out: *by, method, unlocated_reason (null for located links), links."""
    return (df.groupBy(*by, F.col(method_col).alias("method"), F.col(reason_col).alias("unlocated_reason"))
            .agg(F.count(F.lit(1)).alias("links"))
            .orderBy(*by, "method", "unlocated_reason"))


def location_count_keys(df: DataFrame, prefix: str, method_col: str = "method",
                        reason_col: str = "unlocated_reason") -> dict[str, int]:
    """The counts of `location_counts` as flat keys for `Run.count`:
    `<prefix>.links`, `<prefix>.method.<method>`, `<prefix>.unlocated.<reason>`.
    The method counts add up to `.links`, and the reasons to `.method.unlocated`."""
    out: dict[str, int] = {f"{prefix}.links": 0}
    for row in location_counts(df, method_col, reason_col).collect():
        n = int(row["links"])
        out[f"{prefix}.links"] += n
        key = f"{prefix}.method.{row['method']}"
        out[key] = out.get(key, 0) + n
        if row["unlocated_reason"] is not None:
            out[f"{prefix}.unlocated.{row['unlocated_reason']}"] = n
    return out
