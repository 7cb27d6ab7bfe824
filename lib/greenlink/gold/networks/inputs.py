"""What enters the SPEC §4 networks, from the silver tables (docs/networks.md, "The stage"):
pure DataFrame -> DataFrame functions and the reason codes every dropped row is counted under.

- network patents = granted green inventions; their year is the application year, or the
  grant year with `patent_year: grant` (conf/networks.yaml);
- patent_cities = one row per distinct located city of a network patent's ORGANISATION
  applicants (individuals are never network actors);
- network transfers = transfers of in-dump green inventions with both ends located.
"""
from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

PATENT_YEARS = ("application", "grant")
NETWORK_PATENT_TYPE = "invention"          # SPEC §2: networks use invention patents only

# Why an applicant link of a network patent gives no patent city; usable links are split
# into `patent_city` (the first link of a city on the patent) and `same_city` (another
# applicant of the same patent in the same city: the city counts once).
LINK_REASONS = ("not_organisation", "unlocated", "same_city", "patent_city")
# Network patents by the number of distinct located organisation cities.
PATENT_OUTCOMES = ("no_located_org", "one_city", "several_cities")
# Why a silver.transfers row is not a transfer of the network (checked in this order).
TRANSFER_REASONS = ("not_in_dump", "not_invention", "not_green", "unlocated_from", "unlocated_to")


# --------------------------------------------------------------------------- collaboration inputs

def network_patents(patents: DataFrame, patent_year: str = "application") -> DataFrame:
    """(application_no, app_year, year): the granted green invention patents (SPEC §2, §4).

    patents: silver.patents (application_no, year = application year, patent_type, granted,
    grant_year, is_green). year = the application year, or the grant year when
    patent_year = 'grant'; app_year keys the join with silver.applicants (its partition).
    """
    if patent_year not in PATENT_YEARS:
        raise ValueError(f"patent_year must be one of {PATENT_YEARS}")
    year = F.col("year") if patent_year == "application" else F.col("grant_year")
    keep = (F.coalesce(F.col("is_green"), F.lit(False)) & F.coalesce(F.col("granted"), F.lit(False))
            & (F.col("patent_type") == NETWORK_PATENT_TYPE))
    return patents.filter(keep).select("application_no", F.col("year").cast("int").alias("app_year"),
                                       year.cast("int").alias("year"))


def applicant_links(patents: DataFrame, applicants: DataFrame, org_types: Sequence[str]) -> DataFrame:
    """Every applicant link of a network patent with why it gives no city (null: it does).

    patents: `network_patents` output; applicants: silver.applicants (application_no, year =
    application year, org_type, city_code, unlocated_reason).
    Out: (application_no, year, city_code, reason, unlocated_reason); reason is
    `not_organisation` (org_type not in org_types: individuals), `unlocated` (an
    organisation without a city) or null.
    """
    a = applicants.select("application_no", F.col("year").cast("int").alias("app_year"),
                          "org_type", "city_code", "unlocated_reason")
    reason = (F.when(~F.coalesce(F.col("org_type").isin(list(org_types)), F.lit(False)), F.lit("not_organisation"))
              .when(F.col("city_code").isNull(), F.lit("unlocated")))
    return (patents.join(a, ["application_no", "app_year"])
            .select("application_no", "year", "city_code", reason.alias("reason"),
                    F.when(reason == "unlocated", F.col("unlocated_reason")).alias("unlocated_reason")))


def patent_cities(links: DataFrame) -> DataFrame:
    """(application_no, year, city_code): one row per distinct located organisation city of
    a network patent — the `patent_cities` input of `networks.collab_edges`."""
    return links.filter(F.col("reason").isNull()).select("application_no", "year", "city_code").distinct()


def link_audit(links: DataFrame) -> DataFrame:
    """(reason, unlocated_reason, rows): every link of `applicant_links` once, by LINK_REASONS.

    patent_city rows = rows of `patent_cities`; same_city = further links of a city already
    on the patent. unlocated_reason details `unlocated` (silver.applicants' reason)."""
    bad = (links.filter(F.col("reason").isNotNull()).groupBy("reason", "unlocated_reason")
           .agg(F.count(F.lit(1)).alias("rows")))
    per_city = (links.filter(F.col("reason").isNull()).groupBy("application_no", "year", "city_code")
                .agg(F.count(F.lit(1)).alias("n")))
    good = per_city.agg(F.count(F.lit(1)).alias("patent_city"), F.sum(F.col("n") - 1).alias("same_city"))
    good = good.select(F.explode(F.array(*[
        F.struct(F.lit(r).alias("reason"), F.lit(None).cast("string").alias("unlocated_reason"),
                 F.coalesce(F.col(r), F.lit(0)).cast("long").alias("rows"))
        for r in ("patent_city", "same_city")])).alias("r")).select("r.*")
    return bad.select("reason", "unlocated_reason", F.col("rows").cast("long")).unionByName(good)


def patent_audit(patents: DataFrame, cities: DataFrame) -> DataFrame:
    """(outcome, patents): network patents by how many distinct organisation cities they have
    (PATENT_OUTCOMES); only `several_cities` patents make collaboration pairs.
    patents: `network_patents`; cities: `patent_cities`."""
    k = cities.groupBy("application_no").agg(F.count(F.lit(1)).alias("k"))
    outcome = (F.when(F.col("k").isNull(), F.lit("no_located_org")).when(F.col("k") == 1, F.lit("one_city"))
               .otherwise(F.lit("several_cities")))
    return (patents.select("application_no").join(k, "application_no", "left")
            .groupBy(outcome.alias("outcome")).agg(F.count(F.lit(1)).alias("patents")))


# --------------------------------------------------------------------------- transfer inputs

def transfer_rows(transfers: DataFrame) -> DataFrame:
    """silver.transfers rows with why each is not a transfer of the network (null: it is).

    transfers: (application_no, year = registration year, in_dump, patent_type, is_green,
    from_city, to_city). reason, first that applies (TRANSFER_REASONS): not_in_dump (the
    patent is not in the dump, so it cannot be classified), not_invention, not_green,
    unlocated_from, unlocated_to. Out: (application_no, year, from_city, to_city, reason).
    """
    reason = (F.when(~F.coalesce(F.col("in_dump"), F.lit(False)), F.lit("not_in_dump"))
              .when(~F.coalesce(F.col("patent_type") == NETWORK_PATENT_TYPE, F.lit(False)), F.lit("not_invention"))
              .when(~F.coalesce(F.col("is_green"), F.lit(False)), F.lit("not_green"))
              .when(F.col("from_city").isNull(), F.lit("unlocated_from"))
              .when(F.col("to_city").isNull(), F.lit("unlocated_to")))
    return transfers.select("application_no", F.col("year").cast("int").alias("year"), "from_city", "to_city",
                            reason.alias("reason"))


def network_transfers(rows: DataFrame) -> DataFrame:
    """(application_no, year, from_city, to_city): the `transfers` input of
    `networks.transfer_edges` — transfer_rows without a reason."""
    return rows.filter(F.col("reason").isNull()).select("application_no", "year", "from_city", "to_city")
