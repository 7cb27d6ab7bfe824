"""WIPO IPC Green Inventory: parse its entries and rules; which symbols and patents are green (SPEC §2).

Entry kinds and what each covers (symbols in the canonical form of `greenlink.reference.ipc`):

- class `B61` / subclass `F03D`: every symbol starting with it;
- main group `C10L 5/00`: every symbol of that subclass and main group;
- subgroup `H01L 31/042`: same subclass and main group, subgroup digits starting with the
  entry's (`31/0425` in, `31/043` out): the usual approximation of the dot hierarchy;
- range `C10L 5/40-5/48`: symbols between the ends inclusive in IPC order, or covered by
  the end entry by the rules above (`5/481` in, `5/49` out);
- `combined_with`: the entry counts only when another (or the same) symbol of the same
  patent is covered by the second entry as well.

Intervals. Every group-level entry covers one contiguous interval of `ipc.sort_key`
within its subclass: a main group m is [m*10^6, (m+1)*10^6), a subgroup s of length L is
[key(s), key(s) + 10^(6-L)) (exactly the symbols whose digits start with s), a range is
[key(lo), end of hi's interval) (`Entry.key_lo`, `key_hi`; one row per rule part in
`inventory_rows`). The Spark classification, `greenlink.silver.green.classify_green`, matches
on those numeric keys; `covers` below states the rules literally (string prefixes, fractions)
and serves as the test oracle for that execution, `classify_symbols` for a whole patent.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import pandas as pd

from greenlink.core.config import conf_file
from greenlink.core.errors import UserError
from greenlink.reference.ipc import KEY_SCALE, SUBGROUP_DIGITS, IpcSymbol, normalise_ipc, parse_canonical, sort_key

INVENTORY_FILE = "ipc_green_inventory.csv"
CATEGORIES = (
    "Alternative energy production",
    "Transportation",
    "Energy conservation",
    "Waste management",
    "Agriculture/forestry",
    "Administrative, regulatory or design aspects",
    "Nuclear power generation",
)
COLUMNS = ("category", "topic", "ipc", "combined_with")
PRIMARY, COMBINED = "ipc", "combined_with"       # the two parts of a rule

# ---------------------------------------------------------------------------------------
# Entries
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One inventory symbol or range. For ranges `lo`/`hi` are the two ends; for a single
    group entry both are that group; class and subclass entries have neither."""

    text: str
    level: str                      # class | subclass | main_group | subgroup | range
    ipc_class: str
    subclass: str | None
    lo: IpcSymbol | None = None
    hi: IpcSymbol | None = None

    @property
    def key_lo(self) -> int | None:
        """First sort_key covered (group-level entries)."""
        return None if self.lo is None else self.lo.sort_key

    @property
    def key_hi(self) -> int | None:
        """First sort_key after the covered interval (exclusive end)."""
        if self.hi is None:
            return None
        return _interval_end(self.hi)


def _interval_end(g: IpcSymbol) -> int:
    """Exclusive end of what the group entry `g` covers on the sort_key axis."""
    assert g.main_group is not None and g.subgroup is not None
    if g.subgroup == "00":
        return (g.main_group + 1) * KEY_SCALE
    return sort_key(g.main_group, g.subgroup) + 10 ** (SUBGROUP_DIGITS - len(g.subgroup))


def parse_entry(text: str) -> Entry:
    """`B61`, `F03D`, `C10L 5/00`, `H01L 31/042`, `C10L 5/40-5/48` or `B60L 50/00-C...`
    (second end with or without its subclass). ValueError when not one of these."""
    raw = (text or "").strip()
    if "-" in raw:
        left, right = (p.strip() for p in raw.split("-", 1))
        lo_text = normalise_ipc(left)
        if lo_text is None or " " not in lo_text:
            raise ValueError(f"range start {left!r} is not an IPC group")
        if right[:1].isdigit():
            right = f"{lo_text.split(' ')[0]} {right}"
        hi_text = normalise_ipc(right)
        if hi_text is None or " " not in hi_text:
            raise ValueError(f"range end {right!r} is not an IPC group")
        lo, hi = parse_canonical(lo_text), parse_canonical(hi_text)
        if lo.subclass != hi.subclass:
            raise ValueError(f"range {raw!r} spans two subclasses")
        if (lo.sort_key or 0) > (hi.sort_key or 0):
            raise ValueError(f"range {raw!r} ends before it starts")
        return Entry(raw, "range", lo.ipc_class, lo.subclass, lo, hi)
    canon = normalise_ipc(raw)
    if canon is None:
        raise ValueError(f"{raw!r} is not an IPC class, subclass, group or range")
    sym = parse_canonical(canon)
    if sym.subclass is None:
        return Entry(raw, "class", sym.ipc_class, None)
    if sym.main_group is None:
        return Entry(raw, "subclass", sym.ipc_class, sym.subclass)
    level = "main_group" if sym.subgroup == "00" else "subgroup"
    return Entry(raw, level, sym.ipc_class, sym.subclass, sym, sym)


def _group_entry(g: IpcSymbol) -> Entry:
    """The single-group entry of a range end (`5/48` of `5/40-5/48`)."""
    return Entry(g.symbol, "main_group" if g.subgroup == "00" else "subgroup", g.ipc_class, g.subclass, g, g)


def _as_symbol(symbol: IpcSymbol | str) -> IpcSymbol | None:
    if isinstance(symbol, IpcSymbol):
        return symbol
    canon = normalise_ipc(symbol)
    return None if canon is None else parse_canonical(canon)


def _fraction_order(s: IpcSymbol) -> tuple[int, Fraction]:
    return s.main_group or 0, Fraction(f"0.{s.subgroup}")


def covers(entry: Entry | str, symbol: IpcSymbol | str) -> bool:
    """Reference statement of SPEC §2 coverage, written literally (no sort keys)."""
    e = entry if isinstance(entry, Entry) else parse_entry(entry)
    s = _as_symbol(symbol)
    if s is None:
        return False
    if e.level in ("class", "subclass"):
        return s.symbol.startswith(e.subclass or e.ipc_class)
    if s.subclass != e.subclass or s.main_group is None or s.subgroup is None:
        return False
    assert e.lo is not None and e.hi is not None
    if e.level == "main_group":
        return s.main_group == e.lo.main_group
    if e.level == "subgroup":
        return s.main_group == e.lo.main_group and s.subgroup.startswith(e.lo.subgroup or "")
    # range: between the ends in IPC order, or under the end entry
    between = _fraction_order(e.lo) <= _fraction_order(s) <= _fraction_order(e.hi)
    return between or covers(_group_entry(e.hi), s)


# ---------------------------------------------------------------------------------------
# The inventory file and its rules
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """A distinct (ipc, combined_with) of the inventory with every label it carries."""

    rule_id: int
    entry: str                      # label shown in results: `ipc` or `ipc + combined_with`
    primary: Entry
    combined: Entry | None
    categories: tuple[str, ...]
    topics: tuple[str, ...]

    def matches(self, symbols: list[IpcSymbol | str]) -> bool:
        """True when the patent with these symbols is matched (oracle)."""
        hit = any(covers(self.primary, s) for s in symbols)
        return hit and (self.combined is None or any(covers(self.combined, s) for s in symbols))


def read_inventory(path: str | Path | None = None) -> list[Rule]:
    """Parse conf/ipc_green_inventory.csv (or `path`) into rules, in file order.
    Malformed files or rows are a UserError naming the file and line."""
    path = Path(path) if path is not None else conf_file(INVENTORY_FILE)
    if not path.exists():
        raise UserError(f"green inventory not found: {path}")
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise UserError(f"{path}: missing column(s) {', '.join(missing)}")
        labels: dict[tuple[str, str], tuple[set[str], set[str]]] = {}
        parsed: dict[tuple[str, str], tuple[Entry, Entry | None]] = {}
        for line, row in enumerate(reader, start=2):
            category, topic = (row["category"] or "").strip(), (row["topic"] or "").strip()
            ipc, combined = (row["ipc"] or "").strip(), (row["combined_with"] or "").strip()
            if category not in CATEGORIES:
                raise UserError(f"{path}:{line}: unknown category {category!r}")
            if not topic:
                raise UserError(f"{path}:{line}: empty topic")
            key = (ipc, combined)
            if key not in parsed:
                try:
                    parsed[key] = (parse_entry(ipc), parse_entry(combined) if combined else None)
                except ValueError as exc:
                    raise UserError(f"{path}:{line}: {exc}") from None
                labels[key] = (set(), set())
            labels[key][0].add(category)
            labels[key][1].add(topic)
    if not parsed:
        raise UserError(f"{path}: no inventory rows")
    return [Rule(i, f"{ipc} + {comb}" if comb else ipc, *parsed[(ipc, comb)],
                 tuple(sorted(labels[(ipc, comb)][0])), tuple(sorted(labels[(ipc, comb)][1])))
            for i, (ipc, comb) in enumerate(parsed, start=1)]


@dataclass(frozen=True)
class GreenResult:
    is_green: bool
    categories: tuple[str, ...]
    topics: tuple[str, ...]
    green_entries: tuple[str, ...]


def classify_symbols(symbols: list[IpcSymbol | str], rules: list[Rule]) -> GreenResult:
    """Oracle: the green classification of one patent's symbols (multi-label)."""
    parsed = [p for p in map(_as_symbol, symbols) if p is not None]
    hits = [r for r in rules if r.matches(parsed)]
    return GreenResult(bool(hits),
                       tuple(sorted({c for r in hits for c in r.categories})),
                       tuple(sorted({t for r in hits for t in r.topics})),
                       tuple(sorted({r.entry for r in hits})))


# the columns of `inventory_rows`, in the order of silver.green.INVENTORY_SCHEMA
INVENTORY_COLUMNS = ("rule_id", "entry", "n_parts", "part", "level", "ipc_class", "subclass", "key_lo", "key_hi",
                     "categories", "topics")


def inventory_rows(rules: list[Rule]) -> list[dict]:
    """One dict per (rule, part): the join-ready inventory (keys: INVENTORY_COLUMNS)."""
    rows = []
    for r in rules:
        parts = [(PRIMARY, r.primary)] + ([(COMBINED, r.combined)] if r.combined else [])
        for part, e in parts:
            rows.append({"rule_id": r.rule_id, "entry": r.entry, "n_parts": len(parts), "part": part,
                         "level": e.level, "ipc_class": e.ipc_class, "subclass": e.subclass,
                         "key_lo": e.key_lo, "key_hi": e.key_hi,
                         "categories": list(r.categories), "topics": list(r.topics)})
    return rows


def inventory_parts(rules: list[Rule]) -> pd.DataFrame:
    """`inventory_rows` as pandas (nullable Int64 keys), e.g. for DuckDB."""
    df = pd.DataFrame(inventory_rows(rules), columns=list(INVENTORY_COLUMNS))
    return df.astype({"key_lo": "Int64", "key_hi": "Int64"})
