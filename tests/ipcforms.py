"""IPC symbols the tests of `greenlink.reference` (the Python reference) and of
`greenlink.silver` (its Spark side) share: dirty spellings with their canonical form, invalid
symbols, random symbols and dirty variants of them, fuzz strings, and canonical symbols on
and around an inventory entry."""
from __future__ import annotations

import random

from greenlink.reference.inventory import Entry, Rule

FULL_WIDTH = {chr(c - 0xFEE0): chr(c) for c in range(0xFF01, 0xFF5F)}

DIRTY_FORMS = [
    ("F03D 1/06", "F03D 1/06"),
    ("f03d1/06", "F03D 1/06"),                       # case, no space
    ("F03D  1/06", "F03D 1/06"),                     # double space
    ("F03D 1 / 06", "F03D 1/06"),                    # spaces around the slash
    ("F03D0001060000", "F03D 1/06"),                 # 14-character layout
    ("H01L0031042000", "H01L 31/042"),
    ("C10L0005400000", "C10L 5/40"),
    ("B60L0050000000", "B60L 50/00"),
    ("F03D 0001 060000", "F03D 1/06"),               # 14-char layout with spaces
    ("F03D   1/06", "F03D 1/06"),                    # EPO space-padded main group
    ("F03D001/06", "F03D 1/06"),                     # zero-padded main group
    ("C10L 5/400", "C10L 5/40"),                     # trailing subgroup zeros are padding
    ("Ｆ０３Ｄ　１／０６", "F03D 1/06"),                # full-width letters, digits, space, slash
    ("ｆ０３ｄ１／０６", "F03D 1/06"),                   # full-width lower case
    ("F03D 1/06 (2006.01)", "F03D 1/06"),            # version date
    ("F03D 1/06(2006.01)", "F03D 1/06"),
    ("F03D 1/06（2006.01）", "F03D 1/06"),           # full-width brackets
    ("F03D 1/06 [2006.01]", "F03D 1/06"),
    ("H02J 7/00 ( 2006 . 01 )", "H02J 7/00"),
    ("F03D", "F03D"),                                # subclass only
    ("f03d", "F03D"),
    ("B61", "B61"),                                  # class only
    ("'F03D 1/06'", "F03D 1/06"),                    # quotes and punctuation around
    ('"H02J 7/00"', "H02J 7/00"),
    ("“F03D 1/06”", "F03D 1/06"),
    ("(F03D 1/06)", "F03D 1/06"),
    ("F03D 1/06.", "F03D 1/06"),
    ("  F03D 1/06 ;", "F03D 1/06"),
    ("\u00a0F03D\u00a01/06\t", "F03D 1/06"),         # NBSP and tab
    ("h01l 31/0425", "H01L 31/0425"),
    ("A01N 65/00", "A01N 65/00"),
    ("G06Q 9999/999999", "G06Q 9999/999999"),
]

INVALID = [None, "", "   ", "XYZ", "F03D 1", "F03D/06", "F03D 1/", "F03D 1/6",   # one-digit subgroup
           "F03D 0/06", "F03D0000060000",                                         # main group 0
           "F03D 12345/06", "F03D 1/0612345", "I01B 1/00", "F3D 1/06", "F03 1/06",
           "F03D1/06EXTRA", "F03D 1/06 A", "F03D 1-06", "F03D106", "F03D00010600",
           "(2006.01)", "F03DD 1/06", "F03D 1//06", "F03D 1/06/07"]


def random_symbol(rng: random.Random) -> str:
    """A random canonical group/subclass/class symbol."""
    cls = f"{rng.choice('ABCDEFGH')}{rng.randint(1, 99):02d}"
    r = rng.random()
    if r < 0.05:
        return cls
    sub = cls + rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    if r < 0.12:
        return sub
    mg = rng.choice([rng.randint(1, 99), rng.randint(1, 9999)])
    digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(2, 6)))
    digits = digits.rstrip("0").ljust(2, "0")
    return f"{sub} {mg}/{digits}"


def dirty_variant(symbol: str, rng: random.Random) -> str:
    """A dirty spelling of a canonical symbol that must normalise back to it."""
    s = symbol
    if " " in s and rng.random() < 0.25:                       # 14-character layout
        sub, grp = s.split(" ")
        mg, sg = grp.split("/")
        s = f"{sub}{int(mg):04d}{sg.ljust(6, '0')}"
    else:
        if " " in s and rng.random() < 0.4:
            s = s.replace(" ", rng.choice(["", "  ", "   ", "\u3000", "\t"]))
        if "/" in s and rng.random() < 0.3:
            s = s.replace("/", rng.choice([" / ", "/ ", " /"]))
        if "/" in s and rng.random() < 0.2:
            mg, rest = s.rsplit("/", 1)[0], s.rsplit("/", 1)[1]
            s = f"{mg}/{rest}{'0' * rng.randint(1, 6 - len(rest))}" if len(rest) < 6 else s
    if rng.random() < 0.3:
        s = s.lower()
    if rng.random() < 0.25:
        s = "".join(FULL_WIDTH.get(c, c) if rng.random() < 0.7 else c for c in s)
    if rng.random() < 0.3:
        s += rng.choice([" (2006.01)", "(2006.01)", "（2006.01）", " (2013.1)", "[2006.01]"])
    if rng.random() < 0.2:
        q = rng.choice(["'", '"', "“", "「", "(", " ", "."])
        s = q + s + {"(": ")", "“": "”", "「": "」"}.get(q, q)
    return s


FUZZ_ALPHABET = list("F03DH02J16/ 0()（）．.;,，；、|-_'\"[]xyzABC9\u3000\u00a0\t\n\r\u2028\u0085") + ["Ｆ", "０", "／", "😀"]


def fuzz_string(rng: random.Random) -> str:
    return "".join(rng.choice(FUZZ_ALPHABET) for _ in range(rng.randint(0, 16)))


def neighbours(e: Entry, rng: random.Random) -> list[str]:
    """Canonical symbols on and around an entry: ends, extensions, siblings, look-alikes."""
    def subclass_like(sub: str) -> list[str]:
        letter = sub[3]
        out = [sub]
        for d in (-1, 1):
            if "A" <= chr(ord(letter) + d) <= "Z":
                out.append(sub[:3] + chr(ord(letter) + d))
        cls = int(sub[1:3])
        for d in (-1, 1):
            if 1 <= cls + d <= 99:
                out.append(f"{sub[0]}{cls + d:02d}{letter}")
        return out

    def canon(mg: int, sg: str) -> str | None:
        sg = sg.rstrip("0").ljust(2, "0")
        return f"{mg}/{sg}" if 1 <= mg <= 9999 and len(sg) <= 6 else None

    out: list[str] = []
    if e.level == "class":
        cls = int(e.ipc_class[1:3])
        for c in {cls - 1, cls, cls + 1} - {0, 100}:
            k = f"{e.ipc_class[0]}{c:02d}"
            out += [k, k + rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ"), f"{k}{rng.choice('ABCD')} {rng.randint(1, 99)}/00"]
        return out
    subs = subclass_like(e.subclass)
    if e.level == "subclass":
        for s in subs:
            out += [s, s[:3], f"{s} {rng.randint(1, 999)}/{rng.randint(0, 99):02d}"]
        return out
    groups: list[str] = []
    for end in {e.lo, e.hi}:
        mg, sg = end.main_group, end.subgroup
        groups += [canon(mg, sg), canon(mg, "00"), canon(mg + 1, "00"), canon(mg - 1, "00"),
                   canon(mg - 1, sg), canon(mg + 1, sg), canon(mg * 10, sg), canon(mg, sg + "0")]
        for _ in range(3):
            groups.append(canon(mg, sg + str(rng.randint(0, 99))))
        last = int(sg[-1])
        for d in (-1, 1):
            if 0 <= last + d <= 9:
                groups.append(canon(mg, sg[:-1] + str(last + d)))
                groups.append(canon(mg, sg[:-1] + str(last + d) + str(rng.randint(1, 9))))
        groups.append(canon(mg, sg[:-1]) if len(sg) > 2 else None)
        groups.append(canon(mg, f"{rng.randint(0, 99):02d}"))
    for g in filter(None, groups):
        for s in subs if rng.random() < 0.3 else subs[:1]:
            out.append(f"{s} {g}")
    return out


def all_entries(rules: list[Rule]) -> list[Entry]:
    return [e for r in rules for e in (r.primary, r.combined) if e is not None]
