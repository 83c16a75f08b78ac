"""How long an integer a user writes may be: Python refuses to convert one of more than
`sys.get_int_max_str_digits()` decimal digits, so the YAML loader and the templates
refuse it first, with a problem at its position instead of a traceback."""

from __future__ import annotations

import functools
import sys

MAX_INT_DIGITS = 4300  # Python's own int<->str limit, which some conversions would raise on


def int_digits() -> int:
    """How many decimal digits an integer may have (Python's limit, at most MAX_INT_DIGITS)."""
    limit = sys.get_int_max_str_digits()
    return min(limit, MAX_INT_DIGITS) if limit else MAX_INT_DIGITS


@functools.lru_cache(maxsize=8)
def _bound(digits: int) -> int:
    return 10**digits


def int_fits(n: int) -> bool:
    """True if N can be written out in decimal (and read back) without Python refusing."""
    return -_bound(int_digits()) < n < _bound(int_digits())
