"""Bitrates and sizes as ffmpeg users write them: ``500k``, ``2.5M``, ``1e6``."""

from __future__ import annotations

import math
import re

#: ffmpeg's SI suffixes (k = 1000), and the binary ones it also takes (Ki = 1024)
_SUFFIX = {"": 1, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3}
_PATTERN = re.compile(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*(Ki|Mi|Gi|[kKMG]?)\s*(?:b|bit|bps)?\s*")
#: nothing nvc codes needs more than this (10 Gbit/s), and a float beyond it is a typo
MAX_BITS = 10e9


def parse_bits(text: str, what: str = "bitrate") -> int:
    """A positive number of bits (per second for a rate) from ``500k``, ``2.5M``, ``1e6`` or ``800000``.

    Raises ValueError naming ``what`` for anything else (zero, negative, no number, unknown unit).
    """
    match = _PATTERN.fullmatch(str(text))
    if match is None:
        raise ValueError(f"{what} {text!r} is not a number with an optional k, M or G (500k, 2.5M, 1e6)")
    value = float(match.group(1)) * _SUFFIX[match.group(2)]
    if not math.isfinite(value) or value < 1:
        raise ValueError(f"{what} {text!r} must be at least 1 bit")
    if value > MAX_BITS:
        raise ValueError(f"{what} {text!r} is above {MAX_BITS:.0e}")
    return round(value)


def parse_bitrate(text: str) -> int:
    """Bits per second (``-b:v``, ``-maxrate``)."""
    return parse_bits(text, "bitrate")
