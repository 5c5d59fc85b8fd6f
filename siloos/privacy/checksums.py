"""Checksums and validity rules that turn number-shaped text into a card, IBAN or national id.

Pure functions on digit/character strings; the recognizers in `patterns.py` call them.
"""

from __future__ import annotations

# Official IBAN lengths per country (SWIFT IBAN registry); a known country must match exactly.
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30,
    "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22,
    "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check used by payment card numbers."""
    if not digits.isdigit() or not digits.isascii():
        return False
    # From the right: odd positions count as they are, even ones doubled (digit sum).
    total = sum(map(int, digits[-1::-2])) + sum(map(_LUHN_DOUBLED.__getitem__, digits[-2::-2]))
    return total % 10 == 0


_LUHN_DOUBLED = {str(d): (2 * d if d < 5 else 2 * d - 9) for d in range(10)}


# Maestro numbers may be as short as 12 digits; JCB also issues 15-digit "1800…" numbers.
_MAESTRO_PREFIXES = ("50", "56", "57", "58", "6")


def card_valid(digits: str) -> bool:
    """13-19 digits (12 for Maestro), a plausible issuer prefix, not one repeated digit,
    Luhn-valid."""
    if len(digits) == 12:
        plausible = digits.startswith(_MAESTRO_PREFIXES)
    else:
        plausible = 13 <= len(digits) <= 19 and (
            digits[0] in "23456" or digits.startswith("1800")
        )
    return plausible and len(set(digits)) > 1 and luhn_valid(digits)


def iban_valid(compact: str) -> bool:
    """ISO 13616 mod-97 check on an IBAN without spaces (upper case)."""
    if not (15 <= len(compact) <= 34) or not compact.isascii() or not compact.isalnum():
        return False
    if compact != compact.upper():
        return False
    country = compact[:2]
    if not country.isalpha() or not compact[2:4].isdigit():
        return False
    expected = IBAN_LENGTHS.get(country)
    if expected is not None and len(compact) != expected:
        return False
    rearranged = compact[4:] + compact[:4]
    return int(rearranged.translate(_IBAN_LETTER_VALUES)) % 97 == 1


# A -> "10" … Z -> "35" (digits stay themselves), as ISO 13616 reads the rearranged IBAN.
_IBAN_LETTER_VALUES = str.maketrans({chr(65 + i): str(10 + i) for i in range(26)})


TFN_WEIGHTS = (1, 4, 3, 7, 5, 8, 6, 9, 10)


def tfn_valid(digits: str) -> bool:
    """Australian tax file number check: weighted digit sum divisible by 11 (9 digits)."""
    if len(digits) != 9 or not digits.isdigit() or len(set(digits)) == 1:
        return False
    return sum(int(d) * w for d, w in zip(digits, TFN_WEIGHTS, strict=True)) % 11 == 0


def ssn_valid(area: str, group: str, serial: str) -> bool:
    """US SSN ranges: area not 000, 666 or 9xx; group not 00; serial not 0000."""
    return (
        len(area) == 3 and len(group) == 2 and len(serial) == 4
        and area != "000" and area != "666" and not area.startswith("9")
        and group != "00" and serial != "0000"
    )
