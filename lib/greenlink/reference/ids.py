"""CNIPA application numbers (申请号): one canonical form for every stage.

Canonical form (docs/raw_formats.md): the 12-digit number of applications filed since
2003 (`YYYY` + type digit + 7-digit serial) or the older 8-digit number (`YY` + type
digit + 5-digit serial), then `.` and the check digit: `201810123456.7`, `95115608.X`.

Accepted raw forms: any case, `CN` / `ZL` prefixes, spaces (also full-width), dots,
full-width digits and letters; the check digit may be present (`2018101234567`,
`201810123456.7`) or absent (`201810123456`), in which case it is computed. A present
check digit must match: a mismatch means the number was mistyped, and a wrong number
would silently join to another patent, so it counts as unparseable.

Check digit (CNIPA): the digits times the weights 2,3,…,9,2,3,4,5 (12-digit form) or
2,…,9 (8-digit form), summed, modulo 11; 10 is written `X`.

Here in Python (`check_digit`) and as the number's form (`FORM`, after the raw value is
compacted); the Spark side, `with_application_no`, is `greenlink.bronze.fields`.
"""
from __future__ import annotations

# 12 digits or 8 digits, then an optional check character (`x` as `X`); nothing else.
FORM = r"^([0-9]{12}|[0-9]{8})([0-9Xx]?)$"


def check_digit(digits: str) -> str:
    """Check digit of a 12- or 8-digit application number body (`'201710601862'` -> `'3'`)."""
    if not (digits.isascii() and digits.isdigit() and len(digits) in (8, 12)):
        raise ValueError(f"not a 12- or 8-digit application number body: {digits!r}")
    total = sum(int(d) * (2 + i % 8) for i, d in enumerate(digits))
    r = total % 11
    return "X" if r == 10 else str(r)
