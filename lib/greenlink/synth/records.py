"""Spark: patents, their applicants and transfers, generated on executors.

Rows come from the plan's strata (plan.Plan): small per-unit tables are shipped as they
are, ordinary patents as (city, year, n) blocks exploded on executors. Every attribute of
a patent is a hash of (seed, purpose, pid) (rng.uniform), so the result does not depend on
partitioning. Small reference tables (entity pool offsets, gravity destination slots, IPC
pools) are broadcast; the entity table (one row per applicant) is joined.

Internal tables (canonical values, before dirty rendering):

- `patents`:  pid, stratum, defect, year, ptype, granted, green, app_date, grant_date,
              app_digits (12 digits), check, symbols (pool indices), …
- `links`:    pid, ord (0-based), entity_id — applicants in order.
- `transfers`: tid, pid or foreign application number, t_year, effective_date, owners, …

Over 400 lines on purpose: the executor-side record builders share one hashing scheme and
schema; they are read together when a generated attribute is traced.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from greenlink.synth import ipcpool
from greenlink.synth.plan import Plan
from greenlink.synth.rng import pick, slots, uniform
from greenlink.synth.cities import gravity

TYPE_DIGIT = {"invention": 1, "utility": 2, "design": 3}
SERIAL_MULT, SERIAL_ADD, SERIAL_MOD = 7_654_321, 1_234_567, 10_000_000
NONREMOVING = ("duplicate_row", "near_duplicate", "malformed_ipc", "missing_address")
N_SLOTS = 4096


def _lit_array(values: list, dtype: str) -> Column:
    """An array constant as ONE literal string split at run time (constant-folded by the
    optimizer): thousands of separate literal nodes make plans slow to analyse."""
    sep = "\u0001"
    text = sep.join(str(v) for v in values)
    if any(sep in str(v) for v in values):
        raise ValueError("array values contain the separator")
    arr = F.split(F.lit(text), sep, -1)
    return arr if dtype == "string" else arr.cast(f"array<{dtype}>")


def _year_map(d: dict[int, float]) -> Column:
    return F.create_map(*[x for k, v in sorted(d.items()) for x in (F.lit(int(k)), F.lit(float(v)))])


class Gen:
    """Per-world context: seed, parameters, plan and the broadcast tables."""

    def __init__(self, spark: SparkSession, plan: Plan, seed: int, defect_rate: float | None = None) -> None:
        self.spark = spark
        self.plan = plan
        self.seed = seed
        self.defect_rate = defect_rate
        self._gravity: dict[tuple[float, float], DataFrame] = {}
        self.p: dict[str, Any] = plan.world.params
        self.pool = ipcpool.pools(seed)
        self.n_green = int(self.pool["is_green"].sum())
        # pools() sorts non-green first: green symbol i has index n_nongreen + i
        self.n_nongreen = len(self.pool) - self.n_green
        w = self.pool["weight"].to_numpy()
        self.green_slots = (self.n_nongreen + slots(w[self.n_nongreen:], N_SLOTS)).tolist()
        self.nongreen_slots = slots(w[: self.n_nongreen], N_SLOTS).tolist()

    def u(self, salt: str, *keys: str | Column) -> Column:
        return uniform(self.seed, salt, *keys)

    # --- reference tables --------------------------------------------------------------------
    def offsets_df(self) -> DataFrame:
        o = self.plan.offsets.rename(columns={"size": "pool_size"})
        return F.broadcast(self.spark.createDataFrame(o[["city_code", "pool", "offset", "pool_size"]]))

    def gravity_df(self, km: float, same_prov: float) -> DataFrame:
        """(city_code, slot) -> dest: another city drawn ∝ exp(-d/km) × province factor × size."""
        key = (km, same_prov)
        if key not in self._gravity:
            self._gravity[key] = self._gravity_df(km, same_prov).cache()
        # the hint goes on top of the cached table: a hint inside a cached plan is part of no
        # join there (Spark's HintErrorLogger warned once per cached table)
        return F.broadcast(self._gravity[key])

    def release(self) -> None:
        for df in self._gravity.values():
            df.unpersist()
        self._gravity.clear()

    def _gravity_df(self, km: float, same_prov: float) -> DataFrame:
        c = self.plan.world.cities
        g = gravity(c, km, same_prov) * c["size"].to_numpy()[None, :]
        np.fill_diagonal(g, 0.0)
        codes = c["city_code"].to_numpy()
        # one row per city with its 256 destinations, exploded by Spark: the local rows travel
        # inside the tasks that read them, and one row per (city, slot) made those tasks
        # larger than Spark's recommended 1000 KiB (TaskSetManager warned)
        rows = [(str(code), [str(codes[j]) for j in slots(g[i], 256)]) for i, code in enumerate(codes)]
        per_city = self.spark.createDataFrame(rows, "city_code string, dests array<string>")
        return per_city.select("city_code", F.posexplode("dests").alias("slot", "dest"))

    def entities_df(self) -> DataFrame:
        e = self.plan.entities.copy()
        e["form_mask"] = e["form_mask"].astype("int64")
        return self.spark.createDataFrame(e)

    # --- patents -----------------------------------------------------------------------------
    def base(self) -> DataFrame:
        """One row per patent: pid, stratum, year, city_code (first applicant's city), members
        (the other cities of a collaboration unit), fixed_entity, t_year, dst, counted."""
        pl = self.plan
        s = self.spark
        schema = "pid long, stratum string, year int, city_code string, members array<string>, " \
                 "fixed_entity long, t_year int, dst string, counted boolean, unit_id long"
        cu, so, an = pl.collab, pl.source, pl.anchors
        members = [[c for c in (c1, c2, c3) if isinstance(c, str) and c != f]
                   for c1, c2, c3, f in zip(cu["c1"], cu["c2"], cu["c3"], cu["first_city"])]
        none = lambda n, dt: pd.array([None] * n, dtype=dt)   # noqa: E731
        parts = [
            pd.DataFrame({"pid": cu["pid"].astype("int64"), "stratum": "collab", "year": cu["year"].astype("int32"),
                          "city_code": cu["first_city"], "members": members,
                          "fixed_entity": none(len(cu), "Int64"), "t_year": none(len(cu), "Int32"),
                          "dst": none(len(cu), "object"), "counted": cu["counted"].astype(bool),
                          "unit_id": cu["unit_id"].astype("int64")}),
            pd.DataFrame({"pid": so["pid"].astype("int64"), "stratum": "source", "year": so["year"].astype("int32"),
                          "city_code": so["src"], "members": [[] for _ in range(len(so))],
                          "fixed_entity": none(len(so), "Int64"), "t_year": so["t_year"].astype("Int32"),
                          "dst": so["dst"], "counted": so["counted"].astype(bool),
                          "unit_id": so["unit_id"].astype("int64")}),
            pd.DataFrame({"pid": an["pid"].astype("int64"), "stratum": "anchor", "year": an["year"].astype("int32"),
                          "city_code": an["city_code"], "members": [[] for _ in range(len(an))],
                          "fixed_entity": an["entity_id"].astype("Int64"), "t_year": none(len(an), "Int32"),
                          "dst": none(len(an), "object"), "counted": pd.array([None] * len(an), dtype="boolean"),
                          "unit_id": none(len(an), "Int64")}),
        ]
        pdf = pd.concat([x for x in parts if len(x)], ignore_index=True) if any(len(x) for x in parts) else None
        small = s.createDataFrame(pdf, schema) if pdf is not None else s.createDataFrame([], schema)
        b = pl.blocks.copy()
        # split big blocks so that exploding spreads over tasks
        chunk = 20_000
        parts = []
        for r in b.itertuples(index=False):
            for k in range(0, int(r.n), chunk):
                parts.append((r.stratum, r.city_code, int(r.year), int(r.start_pid) + k, min(chunk, int(r.n) - k)))
        bdf = s.createDataFrame(pd.DataFrame(parts, columns=["stratum", "city_code", "year", "start", "n"]))
        # about 100k patents per task: few tasks for small worlds, enough to spread big ones
        n_parts = int(max(1, min(len(parts), b["n"].sum() // 100_000 + 1)))
        big = (bdf.repartition(n_parts, "start")
               .select("stratum", "city_code", "year",
                       F.explode(F.sequence(F.col("start"), F.col("start") + F.col("n") - 1)).alias("pid"))
               .select(F.col("pid").cast("long"), "stratum", F.col("year").cast("int"), "city_code",
                       F.lit(None).cast("array<string>").alias("members"), F.lit(None).cast("long").alias("fixed_entity"),
                       F.lit(None).cast("int").alias("t_year"), F.lit(None).cast("string").alias("dst"),
                       F.lit(None).cast("boolean").alias("counted"), F.lit(None).cast("long").alias("unit_id")))
        return small.unionByName(big)

    def patents(self, base: DataFrame) -> DataFrame:
        """Canonical patent attributes (type, grant, green, dates, number, IPC, defect)."""
        pp = self.p["patents"]
        ts = pp["type_shares"]
        types = list(ts)
        tslots = slots([ts[t] for t in types], 1024).tolist()
        st = F.col("stratum")
        forced = st.isin("collab", "source")
        ptype = F.when(forced, F.lit("invention")).otherwise(
            _lit_array(types, "string")[_lit_array(tslots, "int")[pick(self.u("type", "pid"), 1024)]])
        df = base.withColumn("ptype", ptype)
        grant_rate = _year_map({int(k): v for k, v in pp["invention_grant_rate"].items()})
        granted = F.when(forced, True).when(F.col("ptype") == "invention",
                                           self.u("granted", "pid") < F.element_at(grant_rate, F.col("year"))) \
            .otherwise(True)
        green = F.when(forced, True).otherwise(self.u("green", "pid") < F.element_at(_year_map(self.plan.green_prob),
                                                                                      F.col("year")))
        df = df.withColumn("granted", granted).withColumn("green", green)
        # dates: application date in its year; grant after a lag, before the export date (and, for
        # transferred patents, before the transfer's effective date)
        lo, hi = pp["grant_lag_days"]
        export = F.to_date(F.lit(pp["export_date"]))
        jan1 = F.make_date(F.col("year"), F.lit(1), F.lit(1))
        span = F.when(F.col("stratum") == "source", F.when(F.col("t_year") == F.col("year"), 120).otherwise(240)) \
            .otherwise(364)
        app_date = F.date_add(jan1, pick(self.u("app-day", "pid"), span).cast("int"))
        df = df.withColumn("app_date", app_date)
        latest = F.when(F.col("stratum") == "source",
                        F.make_date(F.col("t_year"), F.lit(12), F.lit(1))).otherwise(export)
        first_ok = F.date_add(F.col("app_date"), F.when(F.col("stratum") == "source", 60).otherwise(lo))
        last_ok = F.least(F.date_add(F.col("app_date"), F.lit(hi)), latest)
        gap = F.greatest(F.datediff(last_ok, first_ok), F.lit(0))
        grant_date = F.when(F.col("granted"), F.date_add(first_ok, pick(self.u("grant-day", "pid"), gap + 1).cast("int")))
        df = df.withColumn("grant_date", grant_date)
        # application number: year, type digit, 7-digit serial (a bijection of pid), check digit
        serial = F.lpad(((F.col("pid") * SERIAL_MULT + SERIAL_ADD) % SERIAL_MOD).cast("string"), 7, "0")
        tdig = F.element_at(F.create_map(*[x for k, v in TYPE_DIGIT.items() for x in (F.lit(k), F.lit(str(v)))]),
                            F.col("ptype"))
        df = df.withColumn("app_digits", F.concat(F.col("year").cast("string"), tdig, serial))
        df = df.withColumn("check", check_digit(F.col("app_digits")))
        df = df.withColumn("application_no", F.concat(F.col("app_digits"), F.lit("."), F.col("check")))
        df = df.withColumn("publication_no", F.concat(
            F.lit("CN"), tdig, F.substring(F.col("year").cast("string"), 3, 2), serial,
            F.when(F.col("ptype") == "invention", F.when(F.col("granted"), "B").otherwise("A"))
             .when(F.col("ptype") == "utility", "U").otherwise("S")))
        df = df.withColumn("symbols", self.symbols_expr())
        # non-removing defects on accepted patents (missing_address is decided with the applicant)
        dc = self.plan.world.defect_counts
        n_acc = max(self.plan.n_patents - sum(int(dc.get(k, 0)) for k in dc if k not in NONREMOVING), 1)
        cum, expr = 0.0, None
        ud = self.u("defect", "pid")
        for kind in NONREMOVING:
            pk = dc.get(kind, 0) / n_acc
            cond = (ud >= cum) & (ud < cum + pk)
            expr = F.when(cond, F.lit(kind)) if expr is None else expr.when(cond, F.lit(kind))
            cum += pk
        nonrem = expr.otherwise(F.lit(None).cast("string")) if expr is not None else F.lit(None).cast("string")
        defect = F.when(st.startswith("reject:"), F.substring_index(st, ":", -1)) \
            .when(st == "foreign", F.lit("foreign_address")).when(st == "noncity", F.lit("noncity_address")) \
            .when(st == "anchor", F.when(nonrem != "missing_address", nonrem)) \
            .otherwise(nonrem)
        return df.withColumn("defect", defect)

    def symbols_expr(self) -> Column:
        """Pool indices of the patent's IPC symbols (first = main); a green patent has a green
        symbol first (or second), the others mostly non-green; a non-green patent none."""
        pp = self.p["patents"]
        kslots = _lit_array((1 + slots(pp["symbol_count_weights"], 1024)).tolist(), "int")
        k = kslots[pick(self.u("n-symbols", "pid"), 1024)]
        gs = _lit_array(self.green_slots, "int")
        ns = _lit_array(self.nongreen_slots, "int")
        main_green = (self.u("main-green", "pid") < pp["green_main_share"]) | (k == 1)
        later_green = pp["later_green_share"]
        seed = self.seed

        def one(j: Column) -> Column:
            u_sym = uniform(seed, "symbol", F.col("pid"), j)
            u_mix = uniform(seed, "symbol-mix", F.col("pid"), j)
            g_pick = gs[pick(u_sym, N_SLOTS)]
            n_pick = ns[pick(u_sym, N_SLOTS)]
            must_green = F.col("green") & (((j == 1) & main_green) | ((j == 2) & ~main_green))
            return F.when(must_green, g_pick).when(F.col("green") & (u_mix < later_green), g_pick).otherwise(n_pick)
        return F.array_distinct(F.transform(F.sequence(F.lit(1), k), one))

    def applicant_slots(self, pat: DataFrame) -> DataFrame:
        """(pid, ord, city_code, pool, u) for every applicant position, before picking entities."""
        pp = self.p["patents"]
        cp = self.plan.offsets
        lead_n = cp[cp["pool"] == "lead"].set_index("city_code")["size"]
        lead_cities = [c for c, n in lead_n.items() if n > 0]
        ind = _year_map({i: pp["individual_first_share"][t] for i, t in enumerate(TYPE_DIGIT)})
        tidx = F.element_at(F.create_map(*[x for i, t in enumerate(TYPE_DIGIT) for x in (F.lit(t), F.lit(i))]),
                            F.col("ptype"))
        st = F.col("stratum")
        individual = ((st == "ordinary") | st.startswith("reject:")) & F.col("city_code").isin(lead_cities) & \
            (self.u("ind-first", "pid") < F.element_at(ind, tidx))
        kslots = _lit_array((1 + slots(pp["applicant_count_weights"], 1024)).tolist(), "int")
        k = F.when(st.isin("anchor", "foreign", "noncity"), 1).when(st == "collab", F.size("members") + 1 + F.when(
            (self.u("collab-extra", "pid") < pp["collab_extra_applicant_share"]) & (F.size("members") < 3), 1)
            .otherwise(0)) \
            .when(st == "source", 1 + (self.u("source-extra", "pid") < pp["source_extra_applicant_share"]).cast("int")) \
            .otherwise(kslots[pick(self.u("n-applicants", "pid"), 1024)])
        df = pat.withColumn("is_ind", individual).withColumn("k", k)
        ggi = (F.col("ptype") == "invention") & F.col("granted") & F.col("green")
        seed = self.seed

        def slot(j: Column) -> Column:
            u_e = uniform(seed, "entity", F.col("pid"), j)
            u_f = uniform(seed, "foreign-co", F.col("pid"), j)
            u_x = uniform(seed, "cross-co", F.col("pid"), j)
            u_m = uniform(seed, "member", F.col("pid"), j)
            first = j == 0
            member = F.when(j <= F.size("members"), F.element_at("members", F.greatest(j, F.lit(1)))) \
                .otherwise(F.element_at(F.array_union(F.array("city_code"), F.coalesce("members", F.array())),
                                        (pick(u_m, F.size("members") + 1) + 1).cast("int")))
            city = F.when(st == "collab", F.when(first, F.col("city_code")).otherwise(member)) \
                .when(st.isin("foreign", "noncity"), F.lit("")) \
                .otherwise(F.col("city_code"))
            far = (~first) & (~ggi) & st.isin("ordinary") & (~F.col("is_ind")) & (u_x < pp["cross_city_coapplicant_share"])
            foreign_co = (~first) & st.isin("ordinary") & (~F.col("is_ind")) & (u_f < pp["foreign_coapplicant_share"])
            pool = F.when(st == "foreign", "foreign").when(st == "noncity", "noncity") \
                .when(foreign_co, "foreign") \
                .when(F.col("is_ind"), F.when(first, "lead").otherwise("co")) \
                .when(far, "far").otherwise("app")
            return F.struct(j.alias("ord"), F.when(foreign_co, F.lit("")).otherwise(city).alias("city_code"),
                            pool.alias("pool"), u_e.alias("u"))
        arr = F.transform(F.sequence(F.lit(0), F.col("k") - 1), slot)
        return df.select("pid", "stratum", "fixed_entity", F.explode(arr).alias("s")).select(
            "pid", "stratum", "fixed_entity", "s.ord", "s.city_code", "s.pool", "s.u")

    def links(self, pat: DataFrame) -> DataFrame:
        """(pid, ord, entity_id): applicants in order, duplicates removed (first kept)."""
        sl = self.applicant_slots(pat)
        grav = self.gravity_df(self.p["patents"]["coapplicant_distance_km"], self.p["patents"]["coapplicant_same_province"])
        sl = sl.withColumn("slot", pick(uniform(self.seed, "far-city", F.col("pid"), F.col("ord")), 256).cast("int"))
        sl = sl.join(grav, ["city_code", "slot"], "left") \
            .withColumn("city_code", F.when(F.col("pool") == "far", F.col("dest")).otherwise(F.col("city_code"))) \
            .withColumn("pool", F.when(F.col("pool") == "far", "app").otherwise(F.col("pool"))).drop("dest", "slot")
        off = self.offsets_df()
        sl = sl.join(off, ["city_code", "pool"], "left")
        power = float(self.p["patents"]["org_popularity_power"])
        idx = F.when(F.col("pool") == "app", F.floor(F.col("pool_size") * F.pow(F.col("u"), power))) \
            .otherwise(F.floor(F.col("pool_size") * F.col("u")))
        ent = F.when(F.col("stratum") == "anchor", F.col("fixed_entity")) \
            .otherwise(F.col("offset") + F.least(idx, F.col("pool_size") - 1)).cast("long")
        sl = sl.withColumn("entity_id", ent).where(F.col("entity_id").isNotNull())
        # keep the first occurrence of an entity within a patent, renumber positions 0..k-1
        first = sl.groupBy("pid", "entity_id").agg(F.min("ord").alias("ord"))
        w = F.row_number().over(Window.partitionBy("pid").orderBy("ord")) - 1
        return first.withColumn("ord", w.cast("int")).select("pid", "ord", "entity_id")


def check_digit(digits: Column) -> Column:
    """CNIPA check digit of a 12-digit application number: Σ d_i·w_i mod 11 with weights
    2..9,2..5; 10 is written X.

    A deliberate copy of `reference.ids.check_digit`: the generator writes numbers from its own
    statement of the rule, so a wrong rule in the pipeline rejects generated rows instead of
    agreeing with itself (tests/unit/synth/test_generate.py checks the two agree)."""
    weights = [2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5]
    total = sum(F.substring(digits, i + 1, 1).cast("int") * w for i, w in enumerate(weights))
    r = total % 11
    return F.when(r == 10, F.lit("X")).otherwise(r.cast("string"))


ADDRESS_PARTS = ["prov_full", "prov_short", "city_name", "city_short_addr", "district", "zone", "street", "number",
                 "building", "postcode", "form_mask", "fixed_address"]


def address_expr(prefix: str, u_form: Column, weights: list[float]) -> Column:
    """The address of an entity written in one of places.FORMS: a form drawn from `weights`,
    replaced by the first allowed of (0, 1, 4, 5) when the entity's verified mask lacks it."""
    c = {k: F.col(prefix + k) for k in ADDRESS_PARTS}
    P, Ps, C, Cs, D, Z = c["prov_full"], c["prov_short"], c["city_name"], c["city_short_addr"], c["district"], c["zone"]
    S, B, PC = c["street"], c["building"], c["postcode"]
    N = F.concat(c["number"], F.lit("号"))
    forms = {
        0: F.concat(P, C, D, S, N),
        1: F.concat(C, D, S, N, B),
        2: F.concat(Ps, Cs, D, S, N),
        3: F.concat(PC, F.lit(" "), P, C, D, S, N),
        4: F.concat(C, Z, S, N),
        5: F.concat(P, C, S, N, B),
        6: F.concat(D, S, N),
        7: F.concat(F.lit("中国"), P, C, D, S, N),
        8: F.concat(P, C, D, S, N, F.lit(" "), PC),
        9: F.concat(P, D, Z, S, N),
    }
    wanted = _lit_array(slots(weights, 1024).tolist(), "int")[pick(u_form, 1024)]
    mask = c["form_mask"]

    def allowed(f: Column | int) -> Column:
        bit = F.pow(F.lit(2), f if isinstance(f, Column) else F.lit(f)).cast("long")
        return mask.bitwiseAND(bit) > 0
    form = F.when(allowed(wanted), wanted)
    for f in (0, 1, 4, 5):
        form = form.when(allowed(f), F.lit(f))
    form = form.otherwise(F.lit(5))
    text = None
    for f, e in forms.items():
        text = F.when(form == f, e) if text is None else text.when(form == f, e)
    return F.when(c["fixed_address"].isNotNull(), c["fixed_address"]).otherwise(text)


def with_entity(df: DataFrame, ent: DataFrame, id_col: str, prefix: str, cols: list[str]) -> DataFrame:
    e = ent.select(F.col("entity_id").alias(id_col), *[F.col(k).alias(prefix + k) for k in cols])
    return df.join(e, id_col, "left")


ENTITY_COLS = ["name", "org_type", "kind", "city_code", "pool", "name_place"]


def assemble(gen: Gen, pat: DataFrame, links: DataFrame, ent: DataFrame) -> tuple[DataFrame, DataFrame]:
    """Patents with their applicant list and first applicant's address; and the links with the
    entity attributes. The missing-address defect applies to organisation first applicants
    only (an individual without an address could be located by nothing reliable)."""
    lk = with_entity(links, ent, "entity_id", "e_", ENTITY_COLS)
    names = lk.groupBy("pid").agg(
        F.array_sort(F.collect_list(F.struct("ord", "e_name"))).alias("_a"),
        F.count("*").alias("n_applicants"))
    names = names.select("pid", "n_applicants", F.transform("_a", lambda x: x["e_name"]).alias("applicant_names"))
    first = links.where(F.col("ord") == 0).select("pid", F.col("entity_id").alias("first_entity"))
    first = with_entity(first, ent, "first_entity", "f_", ENTITY_COLS + ADDRESS_PARTS)
    df = pat.join(names, "pid", "left").join(first, "pid", "left")
    org_first = (F.col("f_org_type") != "individual") & (F.col("f_kind") == "domestic")
    df = df.withColumn("defect", F.when((F.col("defect") == "missing_address") & ~org_first, F.lit(None))
                       .otherwise(F.col("defect")))
    weights = gen.p["names"]["address_form_weights"]
    addr = address_expr("f_", gen.u("address-form", "pid"), weights)
    df = df.withColumn("address", F.when(F.col("defect") == "missing_address", F.lit("")).otherwise(addr))
    df = df.drop(*["f_" + k for k in ADDRESS_PARTS if k != "fixed_address"], "f_fixed_address")
    return df, lk


def transfers(gen: Gen, rec: DataFrame, ent: DataFrame) -> DataFrame:
    """Transfer records: tid, application_no (canonical), app_digits, check, in_dump, t_year,
    effective_date, owners_before (names), from_entity, to_entity, second_owner, address,
    counted (a sample-city transfer of a green invention the networks must count), kind."""
    net = gen.p["network"]
    seed = gen.seed
    off = gen.plan.offsets
    recip = off[off["pool"] == "recip"].set_index("city_code")
    appp = off[off["pool"] == "app"].set_index("city_code")
    pools = gen.spark.createDataFrame(pd.DataFrame({
        "dst": recip.index, "r_off": recip["offset"].to_numpy(), "r_n": recip["size"].to_numpy(),
        "a_off": appp.reindex(recip.index)["offset"].fillna(-1).astype("int64").to_numpy(),
        "a_n": appp.reindex(recip.index)["size"].fillna(0).astype("int64").to_numpy()}))
    pools = F.broadcast(pools)
    base = rec.select("pid", "stratum", "year", "ptype", "granted", "green", "grant_date", "app_digits", "check",
                      "application_no", "applicant_names", "first_entity", "f_city_code", "f_kind", "f_org_type",
                      "t_year", "dst", "counted", "defect")
    # (1) transfers of the `source` patents (the network's transfers and the degraded layer)
    src = base.where(F.col("stratum") == "source").withColumn("kind", F.lit("source"))
    # (2) granted non-green inventions transferred after grant (not counted by the networks)
    u_ng = uniform(seed, "nongreen-transfer", F.col("pid"))
    ng = base.where((F.col("stratum") == "ordinary") & (F.col("ptype") == "invention") & F.col("granted")
                    & ~F.col("green") & F.col("defect").isNull() & (F.col("f_kind") == "domestic")
                    & (F.year("grant_date") <= 2020) & (u_ng < net["nongreen_transfer_share"]))
    ng = ng.withColumn("t_year", F.least(F.year("grant_date") + pick(uniform(seed, "ng-lag", F.col("pid")), 3),
                                         F.lit(2020)).cast("int"))
    grav = gen.gravity_df(net["transfer_distance_km"], net["transfer_same_province"]) \
        .withColumnRenamed("city_code", "f_city_code")
    ng = ng.withColumn("slot", pick(uniform(seed, "ng-dst", F.col("pid")), 256).cast("int")) \
        .join(grav, ["f_city_code", "slot"], "left")
    ng = ng.withColumn("dst", F.when(uniform(seed, "ng-local", F.col("pid")) < net["transfer_local_share"],
                                     F.col("f_city_code")).otherwise(F.col("dest"))) \
        .drop("slot", "dest").withColumn("counted", F.lit(False)).withColumn("kind", F.lit("nongreen"))
    tr = src.unionByName(ng)
    tr = tr.withColumn("tid", F.col("pid") * 4)
    # effective date in t_year, after the grant
    start = F.greatest(F.date_add("grant_date", 1), F.make_date(F.col("t_year"), F.lit(1), F.lit(1)))
    end = F.make_date(F.col("t_year"), F.lit(12), F.lit(31))
    tr = tr.withColumn("effective_date", F.date_add(start, pick(uniform(seed, "eff-day", F.col("pid")),
                                                                F.datediff(end, start) + 1).cast("int")))
    tr = tr.withColumn("in_dump", F.lit(True)).withColumn("owners_before", F.concat_ws(";", "applicant_names"))
    tr = tr.select("tid", "pid", "kind", "app_digits", "check", "application_no", "in_dump", "t_year",
                   "effective_date", "owners_before", F.col("first_entity").alias("from_entity"),
                   F.col("f_city_code").alias("from_city"), "dst", "counted")
    # (3) transfers of patents filed before 2010: not in the dump, so no network counts them
    n_counted = int(gen.plan.source["counted"].sum())
    n_pre = int(round(net["pre2010_transfer_share"] * max(n_counted, 1)))
    codes = gen.plan.world.cities["city_code"].tolist()
    pre = gen.spark.range(n_pre).withColumnRenamed("id", "k")
    pre = pre.withColumn("year", (2005 + pick(uniform(seed, "pre-year", "k"), 5)).cast("int"))
    pre = pre.withColumn("app_digits", F.concat(F.col("year").cast("string"), F.lit("1"),
                                                F.lpad(((F.col("k") * SERIAL_MULT + 7) % SERIAL_MOD).cast("string"), 7, "0")))
    pre = pre.withColumn("check", check_digit(F.col("app_digits")))
    pre = pre.withColumn("application_no", F.concat("app_digits", F.lit("."), "check"))
    app_w = gen.plan.world.app.groupby("city_code")["app"].sum().reindex(codes).to_numpy(float)
    cslots = _lit_array([codes[i] for i in slots(app_w, 1024)], "string")
    pre = pre.withColumn("from_city", cslots[pick(uniform(seed, "pre-from", "k"), 1024)])
    pre = pre.withColumn("dst", cslots[pick(uniform(seed, "pre-to", "k"), 1024)])
    pre = pre.join(F.broadcast(pools.select(F.col("dst").alias("from_city"), F.col("a_off").alias("fa_off"),
                                            F.col("a_n").alias("fa_n"))), "from_city", "left")
    pre = pre.withColumn("from_entity", (F.col("fa_off") + pick(uniform(seed, "pre-owner", "k"), F.col("fa_n"))).cast("long"))
    pre = pre.where(F.col("fa_n") > 0)
    pre = with_entity(pre, ent, "from_entity", "b_", ["name"])
    pre = pre.withColumn("t_year", (2010 + pick(uniform(seed, "pre-t", "k"), 11)).cast("int"))
    pre = pre.withColumn("effective_date", F.date_add(F.make_date(F.col("t_year"), F.lit(1), F.lit(1)),
                                                      pick(uniform(seed, "pre-day", "k"), 365).cast("int")))
    pre = pre.select((F.col("k") * 4 + 3).alias("tid"), F.lit(None).cast("long").alias("pid"), F.lit("pre2010").alias("kind"),
                     "app_digits", "check", "application_no", F.lit(False).alias("in_dump"), "t_year", "effective_date",
                     F.col("b_name").alias("owners_before"), "from_entity", "from_city", "dst",
                     F.lit(False).alias("counted"))
    tr = tr.unionByName(pre)
    # new owners: a recipient organisation of the destination city, sometimes with a second owner
    tr = tr.join(pools, "dst", "left")
    tr = tr.withColumn("to_entity", (F.col("r_off") + pick(uniform(seed, "recipient", "tid"), F.col("r_n"))).cast("long"))
    second = (uniform(seed, "second-owner", "tid") < gen.p["network"]["second_owner_share"]) & (F.col("a_n") > 0)
    tr = tr.withColumn("second_entity", F.when(second, (F.col("a_off") + pick(uniform(seed, "second", "tid"),
                                                                              F.col("a_n"))).cast("long")))
    tr = with_entity(tr, ent, "to_entity", "t_", ["name", "city_code"] + ADDRESS_PARTS)
    tr = with_entity(tr, ent, "second_entity", "s_", ["name"])
    tr = tr.withColumn("owners_after", F.concat_ws(";", "t_name", "s_name"))
    tr = tr.withColumn("address", address_expr("t_", uniform(seed, "owner-address-form", "tid"),
                                               gen.p["names"]["address_form_weights"]))
    return tr.select("tid", "pid", "kind", "app_digits", "check", "application_no", "in_dump", "t_year",
                     "effective_date", "owners_before", "owners_after", "address", "from_entity", "from_city",
                     "to_entity", F.col("t_city_code").alias("to_city"), "counted")
