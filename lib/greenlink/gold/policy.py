"""Regional policy synergy from provincial 产学研 policy documents (SPEC §6): zts, gjs, rps.

Per policy (one JSON object per line of `<input>/policies/*.jsonl`, docs/raw_formats.md):
- issuing agencies from the `agencies` field, split and normalised with the reviewable
  dictionary conf/policy_agencies.yaml (`parse_agencies`); PZ = number of distinct agencies;
- Rothwell–Zegveld tool types from the `text`: jieba segmentation with the dictionary's
  keywords added to jieba's user dictionary, then keyword matching on token boundaries
  with conf/policy_tools.yaml (`detect_tools`); PG = number of types present (0–3).
Per province p and year t (`policy_synergy`), over the policies with at least one tool type:
  zts = mean PZ, gjs = mean PG (1–3), rps = zts × gjs.
Policies with no detected tool are kept in gold.policy_tools (in_synergy = false) but do not
enter the means: SPEC §6 defines a policy's tool count on 1–3, so a policy without any
instrument is outside the index's population (counted, see docs/panel_parts.md).
Province-years without such policies follow conf/policy_tools.yaml `synergy.empty_year`.

Records that cannot be used are rejected with a reason (`REJECT_REASONS`) into
bronze.policy_rejects; records in = accepted + rejected.
"""
from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from greenlink.core import tables
from greenlink.core.config import conf_file, load_yaml
from greenlink.core.errors import UserError
from greenlink.core.config import study_years
from greenlink.reference.gazetteer import province_lookup, provinces, resolve_province
from greenlink.core.printable import printable_column
from greenlink.core.runs import Run
from greenlink.core.rejects import accepted_rows, first_at, mark_first
from greenlink.core.text import PLAUSIBLE_YEARS, nfkc

TOOL_TYPES: tuple[str, ...] = ("supply", "demand", "environment")
FILLS: tuple[str, ...] = ("observed", "carried_forward", "missing")
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


def normalise_agency(piece: str, d: AgencyDictionary) -> tuple[str, bool]:
    """One agency piece -> (canonical name, found in the dictionary).

    Patterns first; else drop 中共, the province's short name and look up the rest as it
    stands (省委) and without its leading level word (省科技厅 -> 科技厅 -> 科学技术厅).
    Not found: the name without province and level word, flagged unmatched."""
    for rx, canon in d.patterns:
        if re.search(rx, piece):
            return canon, True
    s = piece
    for p in d.strip_prefixes:
        if s.startswith(p) and len(s) > len(p):
            s = s[len(p):]
            break
    for short in d.province_shorts:
        if s.startswith(short) and len(s) > len(short):
            s = s[len(short):]
            break
    if s in d.aliases:
        return d.aliases[s], True
    for lw in d.level_words:
        if s.startswith(lw) and len(s) > len(lw):
            s = s[len(lw):]
            break
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
        import jieba

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
                 lookup: Mapping[str, tuple[str, str]]) -> dict[str, Any]:
    """One JSONL line -> a policy_tools row with `reject_reason`/`reject_detail` (None when
    accepted). Checks in order: malformed_row, missing_policy_id, bad_year,
    unknown_province, missing_agencies, missing_text."""
    row: dict[str, Any] = {c: None for c in _PARSED_COLUMNS}

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


# --------------------------------------------------------------------------- tables

_MATCH = T.StructType([
    T.StructField("type", T.StringType()), T.StructField("instrument", T.StringType()),
    T.StructField("keyword", T.StringType()), T.StructField("n", T.IntegerType()),
    T.StructField("n_negated", T.IntegerType()),
])

POLICY_TOOLS = tables.TableSpec(
    name="gold.policy_tools",
    schema=T.StructType([
        T.StructField("policy_id", T.StringType()),
        T.StructField("province_code", T.StringType()),
        T.StructField("province_name", T.StringType()),
        T.StructField("year", T.IntegerType()),
        T.StructField("title", T.StringType()),
        T.StructField("agencies_raw", T.StringType()),          # the field as published
        T.StructField("agencies", T.ArrayType(T.StringType())),  # distinct canonical names
        T.StructField("n_agencies", T.IntegerType()),            # PZ
        T.StructField("agencies_unmatched", T.ArrayType(T.StringType())),  # not in the dictionary
        T.StructField("tool_types", T.ArrayType(T.StringType())),
        T.StructField("n_tool_types", T.IntegerType()),          # PG
        T.StructField("has_supply", T.BooleanType()),
        T.StructField("has_demand", T.BooleanType()),
        T.StructField("has_environment", T.BooleanType()),
        T.StructField("matches", T.ArrayType(_MATCH)),           # every keyword found, with counts
        T.StructField("in_synergy", T.BooleanType()),            # n_tool_types >= 1
        T.StructField("source_file", T.StringType()),
        T.StructField("source_line", T.LongType()),
    ]),
    not_null=("policy_id", "province_code", "province_name", "year", "agencies", "n_agencies",
              "agencies_unmatched", "tool_types", "n_tool_types", "has_supply", "has_demand",
              "has_environment", "matches", "in_synergy", "source_file", "source_line"),
    # Few constraints (each CHECK is one more Delta commit when the table is created).
    checks={
        "policy_rules": f"year BETWEEN {PLAUSIBLE_YEARS[0]} AND {PLAUSIBLE_YEARS[1]} AND source_line > 0 "
                        "AND n_agencies = size(agencies) AND n_agencies >= 1 AND n_tool_types = size(tool_types) "
                        "AND n_tool_types BETWEEN 0 AND 3 AND in_synergy = (n_tool_types > 0)",
    },
    comment="SPEC §6 per-policy audit: issuing agencies and Rothwell-Zegveld tools detected",
    keys=("policy_id",),
)

POLICY_SYNERGY = tables.TableSpec(
    name="gold.policy_synergy",
    schema=T.StructType([
        T.StructField("province_code", T.StringType()),
        T.StructField("province_name", T.StringType()),
        T.StructField("year", T.IntegerType()),
        T.StructField("n_policies", T.LongType()),        # accepted policies issued that year
        T.StructField("n_policies_used", T.LongType()),   # of which with >= 1 tool type (the means' N)
        T.StructField("zts", T.DoubleType()),
        T.StructField("gjs", T.DoubleType()),
        T.StructField("rps", T.DoubleType()),
        T.StructField("fill", T.StringType()),            # observed / carried_forward / missing
        T.StructField("source_year", T.IntegerType()),    # year whose policies gave the values
    ]),
    not_null=("province_code", "province_name", "year", "n_policies", "n_policies_used", "fill"),
    checks={
        "fill_rule": f"year BETWEEN {PLAUSIBLE_YEARS[0]} AND {PLAUSIBLE_YEARS[1]} "
                     "AND n_policies >= n_policies_used AND n_policies_used >= 0 "
                     "AND fill IN ('observed', 'carried_forward', 'missing') "
                     "AND (fill = 'observed') = (n_policies_used > 0) "
                     "AND (fill = 'missing') = (zts IS NULL) AND (zts IS NULL) = (source_year IS NULL) "
                     "AND (source_year IS NULL OR source_year <= year)",
        "index_ranges": "(zts IS NULL OR zts >= 1) AND (gjs IS NULL OR gjs BETWEEN 1 AND 3) "
                        "AND ((rps IS NULL AND zts IS NULL AND gjs IS NULL) OR abs(rps - zts * gjs) < 1e-9)",
    },
    comment="SPEC §6 policy synergy per province-year: zts, gjs, rps",
    keys=("province_code", "year"),
)

POLICY_REJECTS = tables.TableSpec(
    name="bronze.policy_rejects",
    schema=T.StructType([
        T.StructField("source_file", T.StringType()),
        T.StructField("source_line", T.LongType()),
        T.StructField("policy_id", T.StringType()),
        T.StructField("reason", T.StringType()),
        T.StructField("detail", T.StringType()),
        T.StructField("raw_record", T.StringType()),
    ]),
    not_null=("source_file", "source_line", "reason", "raw_record"),
    checks={"reason_kind": f"reason IN ({', '.join(repr(r) for r in REJECT_REASONS)}) AND source_line > 0"},
    comment="policy records the policy stage could not use, with the reason",
    keys=("source_file", "source_line"),
)

_PARSED_COLUMNS = [f.name for f in POLICY_TOOLS.schema.fields if f.name not in ("source_file", "source_line")] \
    + ["reject_reason", "reject_detail"]
_PARSED_SCHEMA = T.StructType(
    [T.StructField("source_file", T.StringType()), T.StructField("source_line", T.LongType()),
     T.StructField("raw_record", T.StringType())]
    + [f for f in POLICY_TOOLS.schema.fields if f.name not in ("source_file", "source_line")]
    + [T.StructField("reject_reason", T.StringType()), T.StructField("reject_detail", T.StringType())])


# --------------------------------------------------------------------------- Spark

LINES_SCHEMA = "source_file string, source_line long, raw_record string"


def read_policy_lines(spark: SparkSession, input_dir: str | Path) -> tuple[DataFrame, int, int]:
    """`<input>/policies/*.jsonl` -> (DataFrame source_file, source_line, raw_record; its number
    of rows; number of blank lines skipped). Policy files are small (thousands of lines): read on the driver,
    which keeps exact 1-based line numbers. source_file is relative to `input_dir`."""
    root = Path(input_dir)
    folder = root / "policies"
    if not folder.is_dir():
        raise UserError(f"no policies folder: {folder}")
    files = sorted(folder.glob("*.jsonl"))
    others = sorted(p.name for p in folder.iterdir() if p.is_file() and p.suffix != ".jsonl")
    if others:
        raise UserError(f"{folder}: unknown file format(s) {', '.join(others)} (expected .jsonl)")
    if not files:
        raise UserError(f"{folder}: no .jsonl files")
    rows, blank = [], 0
    for f in files:
        rel = str(f.relative_to(root))
        text = f.read_bytes().decode("utf-8-sig", errors="replace")
        for k, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                rows.append((rel, k, line))
            else:
                blank += 1
    return spark.createDataFrame(rows, LINES_SCHEMA), len(rows), blank


def parse_policies(lines: DataFrame, tools: ToolDictionary, agencies: AgencyDictionary) -> DataFrame:
    """Lines (source_file, source_line, raw_record) -> one parsed row per line (`_PARSED_SCHEMA`:
    the gold.policy_tools columns, raw_record, reject_reason, reject_detail). jieba runs inside
    mapInPandas on the executors; a later line repeating an accepted policy_id is rejected
    (duplicate_row if the line is identical to the first one, else duplicate_policy_id)."""
    lookup = province_lookup()
    cols = _PARSED_SCHEMA.fieldNames()

    def parse(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for pdf in batches:
            out = []
            for f, ln, raw in zip(pdf["source_file"], pdf["source_line"], pdf["raw_record"]):
                try:
                    row = parse_record(raw, tools, agencies, lookup)
                except Exception as exc:     # a record shaped in a way no rule foresaw: reject, never crash
                    row = {c: None for c in _PARSED_COLUMNS}
                    row.update(reject_reason="malformed_row",
                               reject_detail=f"unparseable record ({type(exc).__name__}: {exc})"[:300])
                row.update(source_file=f, source_line=int(ln), raw_record=raw)
                out.append(row)
            yield pd.DataFrame(out, columns=cols)

    parsed = lines.mapInPandas(parse, _PARSED_SCHEMA)
    position = ("source_file", "source_line")
    dup = F.col("_repeat") & F.col("policy_id").isNotNull()
    return (mark_first(parsed, ["policy_id"], F.col("reject_reason").isNull(), position, carry=("raw_record",))
            .withColumn("reject_reason", F.when(dup & (F.col("raw_record") == F.col("_first.raw_record")),
                                                "duplicate_row")
                        .when(dup, "duplicate_policy_id").otherwise(F.col("reject_reason")))
            .withColumn("reject_detail", F.when(dup, F.concat(F.lit("first at "), first_at(":", position)))
                        .otherwise(F.col("reject_detail")))
            .drop("_first", "_repeat"))


def accepted_policies(parsed: DataFrame) -> DataFrame:
    """The gold.policy_tools rows of `parse_policies` output."""
    return accepted_rows(parsed, POLICY_TOOLS.schema.fieldNames(), "reject_reason")


def policy_rejects(parsed: DataFrame) -> DataFrame:
    """The bronze.policy_rejects rows of `parse_policies` output."""
    return parsed.where(F.col("reject_reason").isNotNull()).select(
        "source_file", "source_line", "policy_id", F.col("reject_reason").alias("reason"),
        printable_column(F.col("reject_detail")).alias("detail"), "raw_record")


def provinces_frame(spark: SparkSession) -> DataFrame:
    """The 31 province-level units as a DataFrame (province_code, province_name)."""
    p = provinces()
    return spark.createDataFrame(list(zip(p["province_code"], p["province_name"])),
                                 "province_code string, province_name string")


def policy_synergy(policies: DataFrame, province_units: DataFrame,
                   years: tuple[int, int] | None = None, empty_year: str = "carry_forward") -> DataFrame:
    """Accepted policies -> one gold.policy_synergy row per province × year in `years`.

    Input columns: province_code, year, n_agencies, n_tool_types, in_synergy.
    Observed province-year (≥ 1 policy with a tool): zts = mean n_agencies, gjs = mean
    n_tool_types over those policies, rps = zts × gjs, source_year = year. Otherwise, with
    empty_year = carry_forward, the values of the latest earlier year that was observed
    (policies issued before `years` count, later ones do not; default: the study years); with `missing`, or when no
    earlier year was observed, null values and fill = 'missing'.
    """
    if empty_year not in EMPTY_YEAR_RULES:
        raise ValueError(f"empty_year must be one of {EMPTY_YEAR_RULES}")
    years = study_years() if years is None else years
    used = F.col("in_synergy")
    per = (policies.where(F.col("year") <= years[1])
           .groupBy("province_code", "year")
           .agg(F.count(F.lit(1)).alias("n_policies"),
                F.sum(F.when(used, 1).otherwise(0)).cast("long").alias("n_policies_used"),
                F.sum(F.when(used, F.col("n_agencies"))).alias("sum_pz"),
                F.sum(F.when(used, F.col("n_tool_types"))).alias("sum_pg")))
    lo = per.agg(F.least(F.min("year"), F.lit(years[0])).alias("lo"))
    span = lo.select(F.explode(F.sequence(F.col("lo").cast("int"), F.lit(years[1]))).alias("year"))
    grid = province_units.select("province_code", "province_name").crossJoin(span)
    g = grid.join(per, ["province_code", "year"], "left")
    observed = F.coalesce(F.col("n_policies_used"), F.lit(0)) > 0
    obs = F.when(observed, F.struct(
        F.col("year").alias("source_year"),
        (F.col("sum_pz") / F.col("n_policies_used")).alias("zts"),
        (F.col("sum_pg") / F.col("n_policies_used")).alias("gjs")))
    if empty_year == "carry_forward":
        w = Window.partitionBy("province_code").orderBy("year").rowsBetween(Window.unboundedPreceding, Window.currentRow)
        val = F.last(obs, ignorenulls=True).over(w)
    else:
        val = obs
    return (g.withColumn("_v", val)
            .where(F.col("year").between(years[0], years[1]))
            .select("province_code", "province_name", F.col("year").cast("int").alias("year"),
                    F.coalesce("n_policies", F.lit(0)).cast("long").alias("n_policies"),
                    F.coalesce("n_policies_used", F.lit(0)).cast("long").alias("n_policies_used"),
                    F.col("_v.zts").alias("zts"), F.col("_v.gjs").alias("gjs"),
                    (F.col("_v.zts") * F.col("_v.gjs")).alias("rps"),
                    F.when(observed, "observed").when(F.col("_v").isNotNull(), "carried_forward")
                    .otherwise("missing").alias("fill"),
                    F.col("_v.source_year").cast("int").alias("source_year")))


# --------------------------------------------------------------------------- stage

@dataclass(frozen=True)
class PolicyConfig:
    """What `greenlink policy` runs on (the command's options as values)."""

    input: str | None = None                  # raw input folder holding policies/*.jsonl
    years: tuple[int, int] | None = None      # study years of gold.policy_synergy (None: conf/panel.yaml)
    tools: str | None = None                  # tool dictionary (None: conf/policy_tools.yaml)
    agencies: str | None = None               # agency dictionary (None: conf/policy_agencies.yaml)


def run(spark: SparkSession, config: PolicyConfig = PolicyConfig(),
        parent_run_id: str | None = None) -> dict[str, int]:
    """Read policies, write gold.policy_tools, bronze.policy_rejects, gold.policy_synergy.
    Returns the counts recorded in _meta.runs."""
    if not config.input:
        raise UserError("--input DIR is required (the folder holding policies/*.jsonl)")
    years = config.years or study_years()
    tools = ToolDictionary.load(config.tools)
    agencies = AgencyDictionary.load(config.agencies)
    inputs = {"input": str(config.input), "tools": str(config.tools or conf_file("policy_tools.yaml")),
              "agencies": str(config.agencies or conf_file("policy_agencies.yaml"))}
    with Run(spark, "policy", inputs=inputs, args={"years": years}, parent_run_id=parent_run_id) as r:
        lines, n_lines, blank = read_policy_lines(spark, config.input)
        parsed = parse_policies(lines, tools, agencies).persist()
        try:
            stats = parsed.groupBy("reject_reason").agg(
                F.count(F.lit(1)).alias("n"),
                F.sum(F.when(~F.col("in_synergy"), 1).otherwise(0)).alias("no_tool"),
                F.array_distinct(F.flatten(F.collect_list("agencies_unmatched"))).alias("unmatched")).collect()
            by_reason = {row["reject_reason"]: row["n"] for row in stats}
            records_in = sum(by_reason.values())
            accepted = by_reason.pop(None, 0)
            rejected = sum(by_reason.values())
            if records_in != accepted + rejected or records_in != n_lines:
                raise RuntimeError(f"policy counts do not reconcile: lines {n_lines}, in {records_in}, "
                                   f"accepted {accepted}, rejected {rejected}")
            good = [row for row in stats if row["reject_reason"] is None]
            r.count("policies.blank_lines", blank)
            r.count("policies.records_in", records_in)
            r.count("policies.accepted", accepted)
            r.count("policies.rejected", rejected)
            for reason, n in sorted(by_reason.items()):
                r.count(f"policies.rejected.{reason}", n)
            r.count("policies.no_tool", good[0]["no_tool"] if good else 0)
            r.count("policies.unmatched_agency_names", len(good[0]["unmatched"]) if good else 0)
            # Small tables: each stage run replaces them whole (same input -> same content).
            tables.write(accepted_policies(parsed), POLICY_TOOLS, mode="overwrite")
            tables.write(policy_rejects(parsed), POLICY_REJECTS, mode="overwrite")
        finally:
            parsed.unpersist()
        synergy = policy_synergy(tables.read(spark, POLICY_TOOLS.name), provinces_frame(spark),
                                 years, tools.empty_year)
        tables.write(synergy, POLICY_SYNERGY, mode="overwrite")
        for row in tables.read(spark, POLICY_SYNERGY.name).groupBy("fill").count().collect():
            r.count(f"synergy.{row['fill']}", row["count"])
        r.log(f"{accepted} policies accepted, {rejected} rejected; synergy written")
        return dict(r.counts)
