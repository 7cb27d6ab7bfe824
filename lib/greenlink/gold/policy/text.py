"""Policy documents as data (SPEC §6), one record at a time: pure Python, run on the executors
inside `policy.parse_policies`.

- issuing agencies from the `agencies` field, split and normalised with the reviewable
  dictionary conf/policy_agencies.yaml (`parse_agencies`); PZ = number of distinct agencies;
- Rothwell–Zegveld tool types from the `text`: jieba segmentation with the dictionary's
  keywords added to jieba's user dictionary, then keyword matching on token boundaries
  with conf/policy_tools.yaml (`detect_tools`); PG = number of types present (0–3);
- `parse_record`: one JSON line -> the gold.policy_tools fields, or a reject reason.
"""
from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from greenlink.core.config import conf_file, load_yaml
from greenlink.core.errors import UserError
from greenlink.core.text import PLAUSIBLE_YEARS, nfkc
from greenlink.reference.gazetteer import provinces, resolve_province

TOOL_TYPES: tuple[str, ...] = ("supply", "demand", "environment")
EMPTY_YEAR_RULES: tuple[str, ...] = ("carry_forward", "missing")
REJECT_REASONS: tuple[str, ...] = (
    "malformed_row",        # not a JSON object
    "missing_policy_id",
    "bad_year",             # not a year in PLAUSIBLE_YEARS
    "unknown_province",     # not one of the 31 province-level units
    "missing_agencies",     # empty field, or no agency name left after parsing
    "missing_text",
    "duplicate_row",        # repeat of an earlier line with the same content
    "duplicate_policy_id",  # same policy_id as an earlier line, other content
)
# jieba frequency given to dictionary keywords: far above any ordinary word's, so that the
# segmenter keeps a keyword whole wherever it occurs.
_USER_WORD_FREQ = 1_000_000


# --------------------------------------------------------------------------- agencies

@dataclass(frozen=True)
class AgencyDictionary:
    """conf/policy_agencies.yaml, validated (see the file's header for the rules)."""

    separators: str
    joiners: tuple[str, ...]
    conjunctions: tuple[str, ...]
    agency_endings: tuple[str, ...]
    drop_endings: tuple[str, ...]
    strip_prefixes: tuple[str, ...]
    level_words: tuple[str, ...]
    aliases: Mapping[str, str]                  # alias -> canonical name
    patterns: tuple[tuple[str, str], ...]       # (regex, canonical name), in file order
    province_shorts: tuple[str, ...]            # longest first

    @classmethod
    def load(cls, path: str | Path | None = None) -> "AgencyDictionary":
        path = Path(path) if path else conf_file("policy_agencies.yaml")
        data = load_yaml(path)
        if not isinstance(data, dict):
            raise UserError(f"{path}: expected a mapping")
        need = ("separators", "joiners", "conjunctions", "agency_endings", "drop_endings",
                "strip_prefixes", "level_words", "aliases")
        missing = [k for k in need if k not in data]
        if missing:
            raise UserError(f"{path}: missing key(s) {', '.join(missing)}")
        aliases: dict[str, str] = {}
        for canon, names in (data["aliases"] or {}).items():
            for name in [canon, *(names or [])]:
                key = nfkc(str(name))
                if aliases.get(key, canon) != canon:
                    raise UserError(f"{path}: alias {key!r} is listed under both {aliases[key]!r} and {canon!r}")
                aliases[key] = str(canon)
        patterns = []
        for canon, regexes in (data.get("patterns") or {}).items():
            for rx in regexes or []:
                try:
                    re.compile(rx)
                except re.error as exc:
                    raise UserError(f"{path}: bad pattern {rx!r} for {canon!r} ({exc})") from None
                patterns.append((rx, str(canon)))
        try:
            re.compile(data["separators"])
        except re.error as exc:
            raise UserError(f"{path}: bad separators regex ({exc})") from None

        def words(key: str) -> tuple[str, ...]:
            return tuple(sorted((nfkc(str(w)) for w in data[key] or []), key=len, reverse=True))

        shorts = tuple(sorted(provinces()["short_name"], key=len, reverse=True))
        return cls(separators=data["separators"], joiners=words("joiners"), conjunctions=words("conjunctions"),
                   agency_endings=words("agency_endings"), drop_endings=words("drop_endings"),
                   strip_prefixes=words("strip_prefixes"), level_words=words("level_words"),
                   aliases=aliases, patterns=tuple(patterns), province_shorts=shorts)


def split_agencies(field: str, d: AgencyDictionary) -> list[str]:
    """The issuing-agency field -> agency name pieces as written (not yet normalised)."""
    s = nfkc(field)
    s = re.sub(r"\([^()]*\)|\[[^\[\]]*\]|【[^【】]*】|〔[^〔〕]*〕", " ", s)   # parenthesised asides
    pieces = [p for p in re.split(d.separators, s) if p]
    if d.joiners:
        joiner = "|".join(map(re.escape, d.joiners))
        pieces = [q for p in pieces for q in re.split(joiner, p) if q]
    out: list[str] = []
    for p in pieces:
        out.extend(_split_conjunctions(p, d))
    cleaned = [_drop_endings(p, d) for p in out]
    return [p for p in cleaned if p]


def _split_conjunctions(piece: str, d: AgencyDictionary) -> list[str]:
    """Split at 和/与/及 only where the text before ends like an agency (省科技厅和省财政厅),
    never inside a name (住房和城乡建设厅, 发展和改革委员会)."""
    if not d.conjunctions:
        return [piece]
    parts, start = [], 0
    for m in re.finditer("|".join(map(re.escape, d.conjunctions)), piece):
        left = piece[start:m.start()]
        if left and left.endswith(d.agency_endings):
            parts.append(left)
            start = m.end()
    parts.append(piece[start:])
    return [p for p in parts if p]


def _drop_endings(piece: str, d: AgencyDictionary) -> str:
    changed = True
    while changed:
        changed = False
        for e in d.drop_endings:
            if piece.endswith(e):
                piece = piece[: -len(e)]
                changed = True
    return piece


def _strip_first(s: str, prefixes: Sequence[str]) -> str:
    """`s` without the first of `prefixes` it starts with (never down to nothing)."""
    for p in prefixes:
        if s.startswith(p) and len(s) > len(p):
            return s[len(p):]
    return s


def normalise_agency(piece: str, d: AgencyDictionary) -> tuple[str, bool]:
    """One agency piece -> (canonical name, found in the dictionary).

    Patterns first; else drop 中共, the province's short name and look up the rest as it
    stands (省委) and without its leading level word (省科技厅 -> 科技厅 -> 科学技术厅).
    Not found: the name without province and level word, flagged unmatched."""
    for rx, canon in d.patterns:
        if re.search(rx, piece):
            return canon, True
    s = _strip_first(_strip_first(piece, d.strip_prefixes), d.province_shorts)
    if s in d.aliases:
        return d.aliases[s], True
    s = _strip_first(s, d.level_words)
    if s in d.aliases:
        return d.aliases[s], True
    return s, False


def parse_agencies(field: str | None, d: AgencyDictionary) -> tuple[list[str], list[str]]:
    """(distinct canonical agencies, sorted; the unmatched ones among them, sorted)."""
    names: set[str] = set()
    unmatched: set[str] = set()
    for piece in split_agencies(field or "", d):
        canon, found = normalise_agency(piece, d)
        names.add(canon)
        if not found:
            unmatched.add(canon)
    return sorted(names), sorted(unmatched)


# --------------------------------------------------------------------------- tools

@dataclass(frozen=True)
class ToolDictionary:
    """conf/policy_tools.yaml, validated (see the file's header for the rules)."""

    keywords: Mapping[str, tuple[str, str]]     # keyword -> (type, instrument)
    negators: frozenset[str]
    window_tokens: int
    clause_breaks: str
    empty_year: str

    @property
    def max_len(self) -> int:
        return max(map(len, self.keywords), default=0)

    @classmethod
    def load(cls, path: str | Path | None = None) -> "ToolDictionary":
        path = Path(path) if path else conf_file("policy_tools.yaml")
        data = load_yaml(path)
        if not isinstance(data, dict) or not isinstance(data.get("types"), dict):
            raise UserError(f"{path}: expected a mapping with a 'types' section")
        unknown = sorted(set(data["types"]) - set(TOOL_TYPES))
        if unknown:
            raise UserError(f"{path}: unknown tool type(s) {', '.join(unknown)}; types: {', '.join(TOOL_TYPES)}")
        keywords: dict[str, tuple[str, str]] = {}
        for ttype, tdef in data["types"].items():
            for instrument, idef in ((tdef or {}).get("instruments") or {}).items():
                for kw in (idef or {}).get("keywords") or []:
                    key = nfkc(str(kw)).strip()
                    if not key:
                        continue
                    if key in keywords and keywords[key] != (ttype, instrument):
                        raise UserError(f"{path}: keyword {key!r} is listed under both "
                                        f"{'/'.join(keywords[key])} and {ttype}/{instrument}")
                    keywords[key] = (ttype, str(instrument))
        if not keywords:
            raise UserError(f"{path}: no keywords")
        neg = data.get("negation") or {}
        rule = (data.get("synergy") or {}).get("empty_year", "carry_forward")
        if rule not in EMPTY_YEAR_RULES:
            raise UserError(f"{path}: synergy.empty_year must be one of {', '.join(EMPTY_YEAR_RULES)}, got {rule!r}")
        breaks = neg.get("clause_breaks", r"[。；;！!？?，,、:：\n]")
        try:
            re.compile(breaks)
        except re.error as exc:
            raise UserError(f"{path}: bad negation.clause_breaks regex ({exc})") from None
        return cls(keywords=keywords, negators=frozenset(nfkc(str(w)) for w in neg.get("negators") or []),
                   window_tokens=int(neg.get("window_tokens", 0)), clause_breaks=breaks, empty_year=rule)


_TOKENIZERS: dict[tuple[str, ...], Any] = {}


def tokenizer(d: ToolDictionary) -> Any:
    """A jieba Tokenizer with the keywords in its user dictionary; one per Python process
    (built on first use inside each Spark worker, then reused across batches)."""
    key = tuple(sorted(d.keywords))
    tok = _TOKENIZERS.get(key)
    if tok is None:
        import jieba  # local: heavy; loaded on first use in each worker

        jieba.setLogLevel(logging.WARNING)
        tok = jieba.Tokenizer()
        for word in key:
            tok.add_word(word, freq=_USER_WORD_FREQ)
        _TOKENIZERS[key] = tok
    return tok


def segment(text: str, d: ToolDictionary) -> list[str]:
    """jieba tokens of the NFKC text; HMM off so that unknown words never swallow a keyword."""
    return tokenizer(d).lcut(nfkc(text), HMM=False)


@dataclass(frozen=True)
class ToolMatch:
    type: str
    instrument: str
    keyword: str
    n: int              # un-negated occurrences
    n_negated: int


def detect_tools(text: str, d: ToolDictionary) -> list[ToolMatch]:
    """Keyword occurrences in `text`, leftmost-longest on token boundaries, per keyword.

    A keyword occurrence is a token or a run of consecutive tokens equal to the keyword; at
    each position the longest keyword wins and matching resumes after it. An occurrence is
    negated when one of the `window_tokens` tokens before it in the same clause is a negator.
    """
    tokens = segment(text, d)
    breaks = re.compile(d.clause_breaks)
    counts: dict[str, list[int]] = {}
    i, n_tok, max_len = 0, len(tokens), d.max_len
    while i < n_tok:
        best, s = None, ""
        for j in range(i, n_tok):
            s += tokens[j]
            if len(s) > max_len:
                break
            if s in d.keywords:
                best = (j, s)
        if best is None:
            i += 1
            continue
        j, kw = best
        c = counts.setdefault(kw, [0, 0])
        c[1 if _negated(tokens, i, d, breaks) else 0] += 1
        i = j + 1
    order = {t: k for k, t in enumerate(TOOL_TYPES)}
    out = [ToolMatch(*d.keywords[kw], kw, n, neg) for kw, (n, neg) in counts.items()]
    return sorted(out, key=lambda m: (order[m.type], m.instrument, m.keyword))


def _negated(tokens: Sequence[str], i: int, d: ToolDictionary, breaks: re.Pattern) -> bool:
    """True when a negator equals one token or a run of consecutive tokens among the
    `window_tokens` non-blank tokens before position i, within the same clause
    (不/享受/税收优惠 matches 不享受; 不/低于/资助 matches nothing)."""
    prev: list[str] = []
    k = i - 1
    while k >= 0 and len(prev) < d.window_tokens:
        tok = tokens[k]
        if breaks.search(tok):
            break
        if tok.strip():
            prev.insert(0, tok)
        k -= 1
    return any("".join(prev[a:b]) in d.negators
               for a in range(len(prev)) for b in range(a + 1, len(prev) + 1))


def tool_types(matches: Sequence[ToolMatch]) -> list[str]:
    """Types with at least one un-negated occurrence, in SPEC order."""
    present = {m.type for m in matches if m.n > 0}
    return [t for t in TOOL_TYPES if t in present]


# --------------------------------------------------------------------------- one record

_YEAR = re.compile(r"^\s*(\d{4})\s*(年|\.0+)?\s*$")


def parse_year(raw: Any) -> int | None:
    """2015 / "2015" / "2015年" / 2015.0 -> 2015; anything else or outside PLAUSIBLE_YEARS -> None."""
    if isinstance(raw, bool) or raw is None:
        return None
    m = _YEAR.match(nfkc(str(raw)))
    if not m:
        return None
    y = int(m.group(1))
    return y if PLAUSIBLE_YEARS[0] <= y <= PLAUSIBLE_YEARS[1] else None


def _text_field(raw: Any) -> str:
    if raw is None:
        return ""
    if isinstance(raw, list):          # agencies given as a JSON list
        return "、".join(str(x) for x in raw if x is not None)
    return str(raw)


def parse_record(raw_line: str, tools: ToolDictionary, agencies: AgencyDictionary,
                 lookup: Mapping[str, tuple[str, str]], columns: Sequence[str]) -> dict[str, Any]:
    """One JSONL line -> a row of `columns` (the policy_tools fields, `reject_reason`,
    `reject_detail`; None when accepted or not reached). Checks in order: malformed_row,
    missing_policy_id, bad_year, unknown_province, missing_agencies, missing_text."""
    row: dict[str, Any] = {c: None for c in columns}

    def reject(reason: str, detail: str) -> dict[str, Any]:
        row["reject_reason"], row["reject_detail"] = reason, detail
        return row

    try:
        rec = json.loads(raw_line)
    except ValueError as exc:
        return reject("malformed_row", f"not JSON: {exc}"[:300])
    if not isinstance(rec, dict):
        return reject("malformed_row", f"a JSON {type(rec).__name__}, not an object")
    pid = rec.get("policy_id")
    row["policy_id"] = None if pid is None else str(pid).strip() or None
    row["title"] = None if rec.get("title") is None else str(rec["title"])
    row["agencies_raw"] = _text_field(rec.get("agencies"))
    if row["policy_id"] is None:
        return reject("missing_policy_id", "policy_id empty or absent")
    year = parse_year(rec.get("year"))
    if year is None:
        return reject("bad_year", f"year {rec.get('year')!r} is not a year in {PLAUSIBLE_YEARS[0]}-{PLAUSIBLE_YEARS[1]}")
    row["year"] = year
    prov = resolve_province(rec.get("province"), lookup)
    if prov is None:
        return reject("unknown_province", f"province {rec.get('province')!r} is not a province-level unit")
    row["province_code"], row["province_name"] = prov
    names, unmatched = parse_agencies(row["agencies_raw"], agencies)
    if not names:
        return reject("missing_agencies", f"no issuing agency in {row['agencies_raw']!r}")
    text = _text_field(rec.get("text"))
    if not text.strip():
        return reject("missing_text", "text empty or absent")
    matches = detect_tools(text, tools)
    types = tool_types(matches)
    row.update(
        agencies=names, n_agencies=len(names), agencies_unmatched=unmatched,
        tool_types=types, n_tool_types=len(types),
        has_supply="supply" in types, has_demand="demand" in types, has_environment="environment" in types,
        matches=[{"type": m.type, "instrument": m.instrument, "keyword": m.keyword, "n": m.n,
                  "n_negated": m.n_negated} for m in matches],
        in_synergy=len(types) > 0)
    return row
