"""Deterministic randomness: the same (seed, salt, key) gives the same draw everywhere.

On executors a draw is a hash of (seed, salt, key columns) (Spark's xxhash64), so a row's
attributes depend only on its key and never on partitioning or execution order. On the
driver, `stream(seed, salt)` is a numpy Generator seeded by (seed, crc32(salt)).
"""
from __future__ import annotations

import zlib

import numpy as np
from pyspark.sql import Column
from pyspark.sql import functions as F

_MANTISSA = 1 << 53


def salt_id(salt: str) -> int:
    return zlib.crc32(salt.encode("utf-8"))


def stream(seed: int, salt: str) -> np.random.Generator:
    """A numpy Generator for driver-side draws of one purpose (`salt`)."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, int(seed) >> 32, salt_id(salt)])


def uniform(seed: int, salt: str, *keys: Column | str) -> Column:
    """Uniform double in [0, 1) from (seed, salt, keys)."""
    h = F.xxhash64(F.lit(int(seed)), F.lit(salt_id(salt)), *[F.col(k) if isinstance(k, str) else k for k in keys])
    return F.pmod(h, F.lit(_MANTISSA)).cast("double") / float(_MANTISSA)


def pick(u: Column, n: Column | int) -> Column:
    """Integer in [0, n) from a uniform column."""
    n_col = F.lit(n) if isinstance(n, int) else n
    return F.least(F.floor(u * n_col).cast("long"), n_col.cast("long") - 1)


def slots(weights: np.ndarray | list[float], n_slots: int = 4096) -> np.ndarray:
    """Index table for weighted choice: slot k holds the item whose cumulative weight covers
    (k + 0.5) / n_slots, so a uniform slot draw picks item i with probability ≈ w_i / Σw."""
    w = np.asarray(weights, dtype=float)
    if w.sum() <= 0:
        raise ValueError("weights must have a positive sum")
    cum = np.cumsum(w / w.sum())
    idx = np.searchsorted(cum, (np.arange(n_slots) + 0.5) / n_slots, side="right")
    return np.minimum(idx, len(w) - 1).astype(np.int64)
