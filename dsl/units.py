"""Physical units of target fields.  Sizes are counted in bits, rates in
bytes per second, frequencies in hertz, times in seconds.  Decimal prefixes (k, K, M, G) are
powers of 1000; binary ones (Ki, Mi, Gi) powers of 1024.  Bit rates
(``Gbit/s``, ``Gbps`` …) are divided by 8 into bytes per second."""

from __future__ import annotations

import difflib

__all__ = ["KIND_UNITS", "UNITS", "format_base", "from_unit", "suggest_unit", "unknown_unit_message"]

_K, _M, _G = 1000, 1000**2, 1000**3
_KI, _MI, _GI = 1024, 1024**2, 1024**3

UNITS: dict[str, tuple[str, float]] = {
    "Hz": ("frequency", 1), "kHz": ("frequency", _K), "MHz": ("frequency", _M), "GHz": ("frequency", _G),
    "B/s": ("rate", 1), "kB/s": ("rate", _K), "KB/s": ("rate", _K), "MB/s": ("rate", _M), "GB/s": ("rate", _G),
    "KiB/s": ("rate", _KI), "MiB/s": ("rate", _MI), "GiB/s": ("rate", _GI),
    "bit/s": ("rate", 1 / 8), "kbit/s": ("rate", _K / 8), "Kbit/s": ("rate", _K / 8),
    "Mbit/s": ("rate", _M / 8), "Gbit/s": ("rate", _G / 8),
    "Kibit/s": ("rate", _KI / 8), "Mibit/s": ("rate", _MI / 8), "Gibit/s": ("rate", _GI / 8),
    "bps": ("rate", 1 / 8), "kbps": ("rate", _K / 8), "Kbps": ("rate", _K / 8),
    "Mbps": ("rate", _M / 8), "Gbps": ("rate", _G / 8),
    "bit": ("size", 1), "bits": ("size", 1), "Kbit": ("size", _K), "Mbit": ("size", _M), "Gbit": ("size", _G),
    "Kibit": ("size", _KI), "Mibit": ("size", _MI), "Gibit": ("size", _GI),
    "B": ("size", 8), "byte": ("size", 8), "bytes": ("size", 8),
    "kB": ("size", 8 * _K), "KB": ("size", 8 * _K), "MB": ("size", 8 * _M), "GB": ("size", 8 * _G),
    "KiB": ("size", 8 * _KI), "MiB": ("size", 8 * _MI), "GiB": ("size", 8 * _GI),
    "s": ("time", 1), "ms": ("time", 1e-3), "us": ("time", 1e-6), "ns": ("time", 1e-9),
}

KIND_UNITS = {
    "frequency": "Hz, kHz, MHz, GHz",
    "rate": "B/s, KB/s, MB/s, GB/s, KiB/s, MiB/s, GiB/s, bit/s, kbit/s, Mbit/s, Gbit/s, "
            "Kibit/s, Mibit/s, Gibit/s, bps, kbps, Mbps, Gbps",
    "size": "bit, Kbit, Kibit, B, KB, KiB, MB, MiB, …",
    "time": "s, ms, us, ns",
}

_DISPLAY = {
    "frequency": [("GHz", _G), ("MHz", _M), ("kHz", _K), ("Hz", 1)],
    "rate": [("GB/s", _G), ("MB/s", _M), ("KB/s", _K), ("B/s", 1)],
    "size": [("GiB", 8 * _GI), ("MiB", 8 * _MI), ("KiB", 8 * _KI), ("Kibit", _KI), ("B", 8), ("bit", 1)],
    "time": [("s", 1), ("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9)],
}


def suggest_unit(text: str) -> str | None:
    """The known unit a misspelt one most likely meant."""
    folded = {u.lower(): u for u in UNITS}
    if text.lower() in folded:
        return folded[text.lower()]
    close = difflib.get_close_matches(text, UNITS, n=1, cutoff=0.6)
    return close[0] if close else None


def unknown_unit_message(text: str) -> str:
    """The error for an unknown unit: the likely meant one, or every accepted unit by kind."""
    guess = suggest_unit(text)
    if guess:
        return f"unknown unit '{text}'; did you mean '{guess}'?"
    kinds = "; ".join(f"{kind}: {units}" for kind, units in KIND_UNITS.items())
    return f"unknown unit '{text}' (units are {kinds})"


def from_unit(number: float, factor: float) -> float:
    """``number`` of a unit in base units; sub-unit factors divide, so that
    20 us is exactly 2e-05 s."""
    return number * factor if factor >= 1 else number / round(1 / factor)


def _in_unit(value: float, factor: float) -> str:
    quotient = value / factor if factor >= 1 else value * round(1 / factor)
    return f"{quotient:.12g}" if factor < 1 else f"{quotient:.15g}"


def format_base(value: float, kind: str) -> str:
    """A base-unit value as text that reads back to the same value: the
    largest unit giving a whole number (sizes) or at most three decimals
    (frequencies, rates, times); else the exact value in the base unit."""
    units = _DISPLAY[kind]
    if kind == "size" and value < _KI:
        return f"{value:.15g} bit"
    tests = [lambda q: q == int(q)] if kind == "size" else []
    tests.append(lambda q: q == round(q, 3))
    for test in tests:
        for unit, factor in units:
            text = _in_unit(value, factor)
            quotient = float(text)
            if quotient >= 1 and test(quotient) and from_unit(quotient, factor) == value:
                return f"{text} {unit}"
    return f"{value!r} {next(unit for unit, factor in units if factor == 1)}"
