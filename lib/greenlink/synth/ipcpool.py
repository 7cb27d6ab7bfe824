"""IPC symbols for generated patents: a green pool drawn from every entry of the WIPO IPC
Green Inventory and a non-green pool of ordinary symbols and near neighbours of green ones.

The generator's own oracle implements SPEC §2 coverage independently of the pipeline's
matcher (`greenlink.reference.ipc`/`inventory`): a symbol is green when an entry covers it
(class/subclass prefix; main group with all its subgroups; subgroup-digit prefix; ranges
inclusive in IPC order, or covered by the range's end entry). Every candidate symbol is
classified by the oracle, so the pools' labels (green flag, categories, topics) are the truth.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from greenlink.core.config import conf_file, load_yaml
from greenlink.synth.rng import stream

_SYMBOL = re.compile(r"^([A-H]\d\d[A-Z]) (\d{1,4})/(\d{2,6})$")
_RANGE = re.compile(r"^([A-H]\d\d[A-Z]) (\d{1,4})/(\d{2,6})-(\d{1,4})/(\d{2,6})$")


@dataclass(frozen=True)
class Symbol:
    subclass: str
    main_group: int
    subgroup: str          # digits after '/', '00' for a main group

    @property
    def text(self) -> str:
        return f"{self.subclass} {self.main_group}/{self.subgroup}"

    @property
    def key(self) -> tuple[int, int]:
        """IPC order within a subclass: main group, then subgroup digits as a decimal fraction."""
        return self.main_group, int(self.subgroup.ljust(6, "0")[:6])

    @property
    def fourteen(self) -> str:
        """The 14-character zero-padded form (F03D 1/06 -> F03D0001060000)."""
        return f"{self.subclass}{self.main_group:04d}{self.subgroup.ljust(6, '0')}"

    @classmethod
    def parse(cls, text: str) -> "Symbol":
        m = _SYMBOL.match(text)
        if not m:
            raise ValueError(f"not a canonical IPC symbol: {text!r}")
        return cls(m.group(1), int(m.group(2)), m.group(3))


@dataclass(frozen=True)
class Entry:
    kind: str              # class | subclass | main_group | subgroup | range
    ipc: str
    category: str
    topic: str
    prefix: str = ""                   # class / subclass entries
    start: Symbol | None = None        # group entries: the group; ranges: first symbol
    end: Symbol | None = None          # ranges: last symbol

    def covers(self, s: Symbol) -> bool:
        if self.kind in ("class", "subclass"):
            return s.subclass.startswith(self.prefix)
        if s.subclass != self.start.subclass:
            return False
        if self.kind in ("main_group", "subgroup"):
            return _group_covers(self.start, s)
        return self.start.key <= s.key <= self.end.key or _group_covers(self.end, s)


def _group_covers(g: Symbol, s: Symbol) -> bool:
    if s.subclass != g.subclass or s.main_group != g.main_group:
        return False
    return g.subgroup == "00" or s.subgroup.startswith(g.subgroup)


def parse_entry(category: str, topic: str, ipc: str) -> Entry:
    ipc = ipc.strip()
    if re.fullmatch(r"[A-H]\d\d", ipc):
        return Entry("class", ipc, category, topic, prefix=ipc)
    if re.fullmatch(r"[A-H]\d\d[A-Z]", ipc):
        return Entry("subclass", ipc, category, topic, prefix=ipc)
    m = _RANGE.match(ipc)
    if m:
        sc = m.group(1)
        return Entry("range", ipc, category, topic, start=Symbol(sc, int(m.group(2)), m.group(3)),
                     end=Symbol(sc, int(m.group(4)), m.group(5)))
    s = Symbol.parse(ipc)
    return Entry("main_group" if s.subgroup == "00" else "subgroup", ipc, category, topic, start=s)


@lru_cache(maxsize=1)
def inventory() -> tuple[Entry, ...]:
    """Entries of conf/ipc_green_inventory.csv (the project's copy of the WIPO inventory)."""
    d = pd.read_csv(conf_file("ipc_green_inventory.csv"), dtype=str).fillna("")
    if (d["combined_with"] != "").any():
        raise ValueError("combined entries are not generated: extend ipcpool for them")
    return tuple(parse_entry(c, t, i) for c, t, i in zip(d["category"], d["topic"], d["ipc"]))


def classify(symbols: list[Symbol]) -> pd.DataFrame:
    """Oracle labels: symbol, is_green, categories, topics (sorted distinct lists)."""
    entries = inventory()
    by_sub: dict[str, list[Entry]] = {}
    for e in entries:
        if e.kind == "class":
            continue
        by_sub.setdefault(e.prefix or e.start.subclass, []).append(e)
    classes = [e for e in entries if e.kind == "class"]
    rows = []
    for s in symbols:
        hit = [e for e in by_sub.get(s.subclass, []) + classes if e.covers(s)]
        rows.append((s.text, bool(hit), sorted({e.category for e in hit}), sorted({e.topic for e in hit})))
    return pd.DataFrame(rows, columns=["symbol", "is_green", "categories", "topics"])


_SUBGROUPS = ["00", "02", "04", "06", "08", "10", "12", "14", "16", "18", "20", "22", "24", "26", "28", "30",
              "32", "34", "36", "38", "40", "42", "44", "46", "48", "50", "52", "56", "60", "64", "68", "72",
              "76", "80", "84", "88", "92", "96", "021", "023", "025", "041", "043", "045", "061", "063", "065",
              "101", "103", "105", "121", "123", "141", "143", "161", "181", "201", "221", "241", "401", "421"]


def _rand_sym(rng: np.random.Generator, subclass: str, mg_max: int = 40) -> Symbol:
    return Symbol(subclass, int(rng.integers(1, mg_max)), _SUBGROUPS[int(rng.integers(len(_SUBGROUPS)))])


def _below(sg: str) -> list[str]:
    """Subgroup digit strings just before sg in IPC order (same length)."""
    v = int(sg)
    return [str(v - 1).zfill(len(sg))] if v > 0 else []


def _above(sg: str) -> list[str]:
    v = int(sg)
    return [str(v + 1).zfill(len(sg))] if len(str(v + 1)) <= len(sg) else []


def _entry_symbols(e: Entry, rng: np.random.Generator) -> tuple[list[Symbol], list[Symbol]]:
    """(symbols inside the entry, near-neighbour candidates just outside it)."""
    inside: list[Symbol] = []
    near: list[Symbol] = []
    letters = "ABCDFGHJKLMNPQS"
    if e.kind == "class":
        subs = [e.prefix + letters[int(i)] for i in rng.choice(len(letters), size=3, replace=False)]
        inside = [_rand_sym(rng, s) for s in subs]
        nxt = f"{e.prefix[0]}{int(e.prefix[1:]) + 1:02d}"
        near = [_rand_sym(rng, nxt + letters[int(rng.integers(len(letters)))]) for _ in range(2)]
    elif e.kind == "subclass":
        inside = [_rand_sym(rng, e.prefix) for _ in range(4)]
        for d in (-1, 1):
            c = chr(ord(e.prefix[3]) + d)
            if "A" <= c <= "Z":
                near.append(_rand_sym(rng, e.prefix[:3] + c))
    elif e.kind == "main_group":
        g = e.start
        inside = [g] + [Symbol(g.subclass, g.main_group, _SUBGROUPS[int(i)])
                        for i in rng.choice(np.arange(1, len(_SUBGROUPS)), size=3, replace=False)]
        near = [Symbol(g.subclass, g.main_group + 1, "00"), Symbol(g.subclass, g.main_group + 1, "02")]
        if g.main_group > 1:
            near.append(Symbol(g.subclass, g.main_group - 1, "00"))
    elif e.kind == "subgroup":
        g = e.start
        inside = [g, Symbol(g.subclass, g.main_group, g.subgroup + str(int(rng.integers(1, 10))))]
        near = [Symbol(g.subclass, g.main_group, s) for s in _below(g.subgroup) + _above(g.subgroup)]
        if len(g.subgroup) > 2:
            near.append(Symbol(g.subclass, g.main_group, g.subgroup[:-1]))
    else:
        a, b = e.start, e.end
        inside = [a, b, Symbol(b.subclass, b.main_group, b.subgroup + str(int(rng.integers(1, 10))))]
        if a.main_group == b.main_group:
            lo, hi = a.key[1], b.key[1]
            cands = [s for s in _SUBGROUPS if lo < int(s.ljust(6, "0")) < hi]
            inside += [Symbol(a.subclass, a.main_group, s) for s in cands[:3]]
        else:
            inside += [Symbol(a.subclass, m, "00") for m in range(a.main_group + 1, b.main_group)][:3]
        near = [Symbol(a.subclass, a.main_group, s) for s in _below(a.subgroup)]
        near += [Symbol(b.subclass, b.main_group, s) for s in _above(b.subgroup)]
        near.append(Symbol(b.subclass, b.main_group + 1, "00"))
    return inside, near


@lru_cache(maxsize=4)
def pools(seed: int) -> pd.DataFrame:
    """All generated symbols with oracle labels and draw weights.

    Columns: symbol, fourteen, is_green, categories, topics, source (entry | near | generic),
    weight (within its pool: green or non-green). Every inventory entry contributes symbols
    (green weight split equally among entries); near neighbours that the oracle finds covered
    by some other entry simply join the green pool."""
    rng = stream(seed, "ipc-pools")
    conf = load_yaml(conf_file("generator.yaml"))["ipc"]
    cand: dict[str, tuple[Symbol, str, float]] = {}
    entries = inventory()
    per_entry = 1.0 / len(entries)
    for e in entries:
        inside, near = _entry_symbols(e, rng)
        for s in inside:
            old = cand.get(s.text)
            cand[s.text] = (s, "entry", (old[2] if old else 0.0) + per_entry / len(inside))
        for s in near:
            cand.setdefault(s.text, (s, "near", 0.0))
    generic = []
    for sub in conf["generic_subclasses"]:
        for _ in range(conf["generic_per_subclass"]):
            generic.append(_rand_sym(rng, sub, mg_max=60))
    for s in generic:
        cand.setdefault(s.text, (s, "generic", 0.0))
    syms = [v[0] for v in cand.values()]
    labels = classify(syms)
    labels["fourteen"] = [s.fourteen for s in syms]
    labels["source"] = [v[1] for v in cand.values()]
    raw_w = np.array([v[2] for v in cand.values()])
    green = labels["is_green"].to_numpy()
    w = np.zeros(len(labels))
    # green pool: entry weights; covered neighbours/generic symbols get the median entry weight
    gw = np.where(raw_w > 0, raw_w, np.median(raw_w[raw_w > 0]))
    w[green] = gw[green] / gw[green].sum()
    near = (~green) & (labels["source"].to_numpy() == "near")
    gen = (~green) & (labels["source"].to_numpy() == "generic")
    share_near = conf["near_neighbour_share"]
    w[near] = share_near / max(near.sum(), 1)
    w[gen] = (1 - share_near) / max(gen.sum(), 1)
    labels["weight"] = w
    labels = labels[labels["weight"] > 0].sort_values(["is_green", "symbol"]).reset_index(drop=True)
    return labels[["symbol", "fourteen", "is_green", "categories", "topics", "source", "weight"]]
