"""Luhn, IBAN mod-97, TFN and SSN rules."""

from __future__ import annotations

from siloos.privacy.checksums import card_valid, iban_valid, luhn_valid, ssn_valid, tfn_valid


def test_luhn() -> None:
    assert luhn_valid("4111111111111111")
    assert luhn_valid("79927398713")
    assert not luhn_valid("4111111111111112")
    assert not luhn_valid("4111a11111111111")
    assert not luhn_valid("")


def test_card_rules() -> None:
    assert card_valid("378282246310005")  # Amex test number
    assert card_valid("5555555555554444")
    assert not card_valid("0000000000000000")  # Luhn-valid, not a card
    assert not card_valid("411111111111")  # 12 digits


def test_iban() -> None:
    assert iban_valid("DE89370400440532013000")
    assert iban_valid("GB82WEST12345698765432")
    assert iban_valid("NL91ABNA0417164300")
    assert not iban_valid("DE89370400440532013001")  # checksum
    assert not iban_valid("DE8937040044053201300")  # wrong length for DE
    assert not iban_valid("de89370400440532013000")  # must be upper-cased first
    assert not iban_valid("DE89 3704 0044 0532 0130 00")  # must be compacted first


def test_tfn() -> None:
    assert tfn_valid("123456782")
    assert tfn_valid("876543210")
    assert not tfn_valid("123456789")
    assert not tfn_valid("000000000")
    assert not tfn_valid("12345678")


def test_ssn_ranges() -> None:
    assert ssn_valid("123", "45", "6789")
    for area, group, serial in [
        ("000", "12", "3456"),
        ("666", "12", "3456"),
        ("900", "12", "3456"),
        ("999", "12", "3456"),
        ("123", "00", "4567"),
        ("123", "45", "0000"),
    ]:
        assert not ssn_valid(area, group, serial)


def _with_check_digit(body: str) -> str:
    return next(body + d for d in "0123456789" if luhn_valid(body + d))


def test_short_maestro_and_jcb() -> None:
    maestro = _with_check_digit("50189012345")
    assert len(maestro) == 12 and card_valid(maestro)
    assert card_valid(_with_check_digit("18001234567890"))  # 15-digit JCB
    assert not card_valid(_with_check_digit("12345678901"))  # 12 digits, not Maestro
    assert not card_valid(_with_check_digit("190012345678901"))  # issuer 1 (not 1800)
