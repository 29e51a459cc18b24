"""Domain: National Provider Identifier check digit.

The NPI standard (45 CFR 162.406; CMS "NPI check digit" guidance) uses the Luhn formula
over the 9 leading digits prefixed with the card issuer constant 80840.
"""

from __future__ import annotations


def npi_is_valid(npi: str) -> bool:
    if len(npi) != 10 or not npi.isdigit():
        return False
    digits = "80840" + npi
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def npi_with_check_digit(first_nine: str) -> str:
    """Complete nine digits into a valid NPI (used by the demo data and tests)."""
    for check in range(10):
        candidate = f"{first_nine}{check}"
        if npi_is_valid(candidate):
            return candidate
    raise ValueError("no check digit fits")  # pragma: no cover - Luhn always has one
