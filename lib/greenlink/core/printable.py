"""Values from input made safe to show: in messages, logs and stored `detail` columns.

Input files can carry control bytes (a binary file, a crafted header with an ANSI escape
sequence, a bidi override). Wherever such a value reaches a message or a detail it goes
through `printable` (Python) or `printable_column` (Spark): control and format characters
(Unicode categories Cc, Cf, Zl, Zp) become escapes (`\\x1b`, `\\u202e`), and a value longer
than `limit` characters (after escaping) is cut, with its full length noted. Ordinary text,
Chinese and full-width characters included, is left as it is.
"""
from __future__ import annotations

import unicodedata

from pyspark.sql import Column
from pyspark.sql import functions as F

LIMIT = 200                                  # characters of a value shown in a message or detail
# private-use characters stay: GBK exports map rare Chinese characters there
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
_UNSAFE_JAVA = r"[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]"


def _escape(c: str) -> str:
    code = ord(c)
    return f"\\x{code:02x}" if code < 0x100 else (f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")


def cut_note(length: int) -> str:
    return f"… [{length:,} characters]"


def printable(value: object, limit: int | None = LIMIT) -> str:
    """`value` as text with control/format characters escaped and cut to `limit` characters
    (None: no cut). Bytes are shown as Latin-1, so every byte is visible as itself or `\\xNN`."""
    if isinstance(value, (bytes, bytearray)):
        text = bytes(value).decode("latin-1")
    else:
        text = "" if value is None else str(value)
    safe = "".join(_escape(c) if unicodedata.category(c) in _UNSAFE_CATEGORIES else c for c in text)
    if limit is not None and len(safe) > limit:
        return safe[:limit] + cut_note(len(text))
    return safe


def printable_column(col: Column, limit: int | None = LIMIT) -> Column:
    """Spark version of `printable` for a string column (NULL stays NULL). The per-character
    escape only runs on values that hold an unsafe character; characters are taken with a
    regex (`.` is a whole code point in Java), so characters outside the BMP stay whole."""

    def escape(c: Column) -> Column:
        n = F.ascii(c)                                  # the code point of the character
        return (F.when(~c.rlike(_UNSAFE_JAVA), c)
                .when(n < 0x100, F.format_string("\\x%02x", n))
                .when(n < 0x10000, F.format_string("\\u%04x", n))
                .otherwise(F.format_string("\\U%08x", n)))

    chars = F.regexp_extract_all(col, F.lit("(?s)."), F.lit(0))
    escaped = F.when(col.rlike(_UNSAFE_JAVA), F.array_join(F.transform(chars, escape), "")).otherwise(col)
    if limit is None:
        return escaped
    return F.when(F.length(escaped) > limit,
                  F.concat(F.substring(escaped, 1, limit), F.lit("… ["),
                           F.format_number(F.length(col), 0), F.lit(" characters]"))).otherwise(escaped)


def printable_lines(text: object, limit: int | None = None) -> str:
    """`printable` line by line: a multi-line message keeps its line breaks, nothing else."""
    return "\n".join(printable(line, limit) for line in str(text).split("\n"))
