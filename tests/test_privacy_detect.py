"""Pattern recognizers: hand-written positives and hard negatives per kind and merging."""

from __future__ import annotations

import pytest

from siloos.errors import SiloError
from siloos.privacy.detect import (
    CompositeDetector,
    KnownValueDetector,
    PatternDetector,
    PresidioDetector,
    Span,
)
from siloos.privacy.spans import merge_spans

DETECTOR = PatternDetector()


def found(text: str) -> list[tuple[str, str]]:
    return [(text[s.start : s.end], s.kind) for s in DETECTOR.find(text)]


@pytest.mark.parametrize(
    ("text", "value", "kind"),
    [
        ("mail me at jo.ng+shop@mail.example.co.uk.", "jo.ng+shop@mail.example.co.uk", "email"),
        ("(ANN_O'NEIL@Example.COM)", "ANN_O'NEIL@Example.COM", "email"),
        ("ring +61 4 1234 5678 tonight", "+61 4 1234 5678", "phone"),
        ("my mobile is +61 412 345 678", "+61 412 345 678", "phone"),
        ("office (02) 9123 4567", "(02) 9123 4567", "phone"),
        ("US desk +1 (415) 555-0100", "+1 (415) 555-0100", "phone"),
        ("try 415-555-0100 after lunch", "415-555-0100", "phone"),
        ("or 212.555.0199.", "212.555.0199", "phone"),
        ("London +44 20 7946 0958", "+44 20 7946 0958", "phone"),
        ("London +44 (0)20 7946 0958", "+44 (0)20 7946 0958", "phone"),
        ("text 07700 900123", "07700 900123", "phone"),
        ("mobile 0412 345 678", "0412 345 678", "phone"),
        ("mobile 0412345678", "0412345678", "phone"),
        ("Berlin 030 1234 5678", "030 1234 5678", "phone"),
        ("call 0049 30 12345678", "0049 30 12345678", "phone"),
        ("toll free 1-800-555-0199", "1-800-555-0199", "phone"),
        ("phone: 5550100123", "5550100123", "phone"),
        ("card 4111 1111 1111 1111 please", "4111 1111 1111 1111", "card"),
        ("card 5555-5555-5555-4444", "5555-5555-5555-4444", "card"),
        ("amex 378282246310005", "378282246310005", "card"),
        ("amex 3782 822463 10005", "3782 822463 10005", "card"),
        ("pay to DE89 3704 0044 0532 0130 00 today", "DE89 3704 0044 0532 0130 00", "iban"),
        ("IBAN:GB82WEST12345698765432", "GB82WEST12345698765432", "iban"),
        ("NL91 ABNA 0417 1643 00.", "NL91 ABNA 0417 1643 00", "iban"),
        ("from 10.0.0.254 we saw", "10.0.0.254", "ip"),
        ("host 2001:db8:85a3::8a2e:370:7334 down", "2001:db8:85a3::8a2e:370:7334", "ip"),
        ("loopback ::1.", "::1", "ip"),
        ("SSN 078-05-1120", "078-05-1120", "ssn"),
        ("ssn 078 05 1120", "078 05 1120", "ssn"),
        ("my TFN is 876 543 210", "876 543 210", "ssn"),
        ("tfn 876543210", "876543210", "ssn"),
        ("born 4/7/1962 in Perth", "4/7/1962", "dob"),
        ("DOB: 1962-07-04", "1962-07-04", "dob"),
        ("date of birth 4th of July 1962", "4th of July 1962", "dob"),
        ("I was born on July 4, 1962.", "July 4, 1962", "dob"),
        ("07.04.1962 is my birthday", "07.04.1962", "dob"),
        ("Geburtsdatum: 4. Juli 1962", "4. Juli 1962", "dob"),
    ],
)
def test_positive(text: str, value: str, kind: str) -> None:
    assert (value, kind) in found(text), found(text)


@pytest.mark.parametrize(
    "text",
    [
        "The kettle was 49.99 and the toaster 1,249.00.",
        "Order 12345 and order #884213 shipped.",
        "Invoice 20231104 was paid on 2023-11-04 at 10:30.",
        "Delivered 15.01.2024, returned 01/15/2024.",
        "We sold 1 234 567 units in 2023 and 12.345.678 in 2024.",
        "Upgrade to version 1.2.3 or v2.10.4.1 soon.",
        "Build 3.11.4 is out; ratio 3:2:1; time 10:30:15.",
        "a@b is not an address, nor is user@localhost",
        "Tracking 1Z999AA10123456784 arrived.",
        "Refund 4111 of 1111 units.",
        "card 4111 1111 1111 1112 (Luhn fails)",
        "IBAN DE89 3704 0044 0532 0130 01 (checksum fails)",
        "999.1.1.1 and 256.0.0.1 are not addresses",
        "666-12-3456 and 900-12-3456 and 123-00-4567 are invalid SSNs",
        "order 876543210 was late",
        "delivered on 4 July 2023, ordered 12/06/2023",
        "Call me at 3pm on 12/06 about items 1-2-3.",
        "Temperature 36.6 and 1.5e10 and 3.14159265",
    ],
)
def test_negative(text: str) -> None:
    assert found(text) == []


def test_ipv4_shaped_version_is_ambiguous_and_documented() -> None:
    # A bare 1.2.3.4 is a valid IPv4 address and is tokenized (recall first); after a
    # version word it is left alone.
    assert found("connect to 1.2.3.4") == [("1.2.3.4", "ip")]
    assert found("version 1.2.3.4") == []


def test_detector_refuses_unknown_kinds() -> None:
    with pytest.raises(ValueError):
        PatternDetector(["email", "passport"])
    with pytest.raises(ValueError):
        PatternDetector([])
    assert PatternDetector(["email"]).find("a@example.com 0412 345 678") == [
        Span(0, 13, "email")
    ]


def test_merge_longest_wins_then_priority() -> None:
    spans = [Span(0, 5, "phone"), Span(2, 10, "card"), Span(12, 15, "ip"), Span(12, 15, "ssn")]
    # overlapping spans become one covering span (no fragment left in clear), of the
    # longest member's kind; equal lengths fall back to the kind priority
    assert merge_spans(spans) == [Span(0, 10, "card"), Span(12, 15, "ssn")]
    assert merge_spans([Span(0, 4, "ip"), Span(4, 8, "ip")]) == [Span(0, 4, "ip"), Span(4, 8, "ip")]
    known = Span(12, 15, "phone", token="phone_tk_aaaaaaaaaaaa")
    assert merge_spans([Span(12, 15, "ssn"), known]) == [known]


def test_composite_requires_detectors() -> None:
    with pytest.raises(ValueError):
        CompositeDetector([])


def test_known_values_any_spelling() -> None:
    known = KnownValueDetector(
        [
            ("+61 412 345 678", "phone", "phone_tk_pppppppppppp"),
            ("4111 1111 1111 1111", "card", "card_tk_cccccccccccc"),
            ("Ann.Lee@Example.com", "email", "email_tk_eeeeeeeeeeee"),
            ("Annabel Leeworth", "name", "name_tk_nnnnnnnnnnnn"),
            ("12 Main Street, Sydney NSW 2000", "addr", "addr_tk_aaaaaaaaaaaa"),
            ("CUST-1001", "cust", "cust_tk_kkkkkkkkkkkk"),
        ]
    )
    text = (
        "ann.lee@example.COM called from 0412-345-678 and (04) 1234 5678 and +61412345678; "
        "card 4111-1111-1111-1111; annabel   leeworth lives at 12 main street sydney nsw 2000 "
        "(12 Main Street). Leeworth said hi. leeworth is lowercase. id CUST-1001."
    )
    got = {(text[s.start : s.end], s.kind, s.token) for s in known.find(text)}
    assert ("ann.lee@example.COM", "email", "email_tk_eeeeeeeeeeee") in got
    assert ("0412-345-678", "phone", "phone_tk_pppppppppppp") in got
    assert ("(04) 1234 5678", "phone", "phone_tk_pppppppppppp") in got
    assert ("+61412345678", "phone", "phone_tk_pppppppppppp") in got
    assert ("4111-1111-1111-1111", "card", "card_tk_cccccccccccc") in got
    assert ("annabel   leeworth", "name", "name_tk_nnnnnnnnnnnn") in got
    assert ("12 main street sydney nsw 2000", "addr", "addr_tk_aaaaaaaaaaaa") in got
    assert ("12 Main Street", "addr", None) in got
    assert ("Leeworth", "name", None) in got
    assert ("CUST-1001", "cust", "cust_tk_kkkkkkkkkkkk") in got
    assert not any(value == "leeworth" for value, _, _ in got)


def test_known_values_do_not_match_inside_other_numbers() -> None:
    known = KnownValueDetector([("1001", "ord", "ord_tk_oooooooooooo")])
    assert known.find("total 11001 and 1001.50 and A1001") == []
    assert [s.token for s in known.find("order 1001 arrived")] == ["ord_tk_oooooooooooo"]


def test_presidio_missing_is_a_clear_error() -> None:
    try:
        import presidio_analyzer  # noqa: F401
    except ImportError:
        with pytest.raises(SiloError, match="presidio"):
            PresidioDetector()
    else:
        import spacy.util

        if spacy.util.is_package("en_core_web_lg"):  # installed: it must construct and run
            assert isinstance(PresidioDetector().find("mail a@example.com"), list)
        else:  # no model (and no download at run time): a clear refusal naming it
            with pytest.raises(SiloError, match="spaCy model en_core_web_lg"):
                PresidioDetector()


def test_presidio_adapter_maps_entities() -> None:
    class Result:
        def __init__(self, entity_type: str, start: int, end: int, score: float) -> None:
            self.entity_type, self.start, self.end, self.score = entity_type, start, end, score

    class FakeAnalyzer:
        def analyze(self, text: str, language: str, entities: list[str]) -> list[Result]:
            return [
                Result("EMAIL_ADDRESS", 5, 18, 1.0),
                Result("PHONE_NUMBER", 20, 30, 0.2),
                Result("NRP", 0, 4, 0.9),
            ]

    spans = PresidioDetector(analyzer=FakeAnalyzer()).find("x" * 40)
    assert spans == [Span(5, 18, "email")]
