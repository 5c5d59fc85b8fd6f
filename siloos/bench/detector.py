"""The free-text detector benchmark: span-level precision/recall/F2 and tokenizing speed.

Labelled sentences are generated offline with Faker (fixed seed, locales en_US, en_AU,
en_GB, de_DE) from the templates below, which are written for this benchmark and are not
the detector's test strings; entity spans are recorded as the sentence is assembled. A
share of sentences are negatives (amounts, order numbers, non-birth dates, versions, times).

Matching is **overlap with the same kind**: a predicted span counts as correct when it
overlaps a gold span of the same token type, and a gold span is found when some predicted
span of its type overlaps it. F2 weights recall twice (a missed value leaks; an extra token
only hides a number). `tokenize_mb_s` is `Tokenizer.tokenize_text` over a few MB of prose
with the labelled sentences mixed in, against a real vault (SQLite in memory, real keys),
the best of three runs, each with a fresh vault.
`scan_mb_s` is `PatternDetector.find` over the labelled sentences one by one.

Presidio's predefined *pattern* recognizers (email, phone, card, IBAN, IP, US SSN, AU TFN,
date) run on the same sentences when `presidio_analyzer` is importable, scored the same
way and timed the same way as `scan_mb_s` (its `scan_mb_s`). Its NER is not compared: it
needs a spaCy model, which cannot be installed offline. Without Presidio, `presidio` is
`None` and `presidio_reason` says why.
"""

from __future__ import annotations

import random
import sqlite3
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from faker import Faker

from siloos.privacy.detect import PRESIDIO_KINDS, Detector, PatternDetector
from siloos.privacy.spans import Span
from siloos.privacy.tokenizer import Tokenizer
from siloos.privacy.vault import Vault, create_vault_keys

LOCALES = ("en_US", "en_AU", "en_GB", "de_DE")
PATTERN_KINDS = ("email", "phone", "card", "iban", "ip", "ssn", "dob")
DEFAULT_SEED = 20240917


@dataclass
class Sample:
    """One generated sentence and the entity spans written into it."""

    text: str
    spans: list[Span] = field(default_factory=list)


class _Builder:
    """Assembles a sentence piece by piece, recording where each entity lands."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.length = 0
        self.spans: list[Span] = []

    def text(self, chunk: str) -> None:
        self.parts.append(chunk)
        self.length += len(chunk)

    def entity(self, value: str, kind: str) -> None:
        self.spans.append(Span(self.length, self.length + len(value), kind))
        self.text(value)

    def build(self) -> Sample:
        return Sample("".join(self.parts), self.spans)


# Templates: literal text with {kind} slots. Written for the benchmark only.
TEMPLATES: dict[str, list[str]] = {
    "email": [
        "Hello, could you send the receipt to {email} instead?",
        "My new address for updates is {email}, the old one bounced.",
        "I never got a reply at {email}; please check again.",
        "{email} is where the invoices should go from now on.",
    ],
    "phone": [
        "You can call me back on {phone} after five.",
        "The courier tried {phone} but nobody answered.",
        "Please ring {phone} if the parcel is late.",
        "Best number to reach me: {phone}",
        "My partner's number ({phone}) is also on the account.",
    ],
    "card": [
        "I paid with the card ending in the number {card} last week.",
        "The charge on {card} was taken twice.",
        "Please refund to card {card}, not the gift voucher.",
    ],
    "iban": [
        "Transfer the refund to {iban} please.",
        "My bank account is {iban} under my name.",
        "The account {iban} was closed, use the new one.",
    ],
    "ip": [
        "The login attempt came from {ip}, which is not me.",
        "Your site blocked my address {ip} yesterday.",
        "Requests from {ip} keep failing with an error.",
    ],
    "ssn": [
        "For the tax form my SSN is {ssn}.",
        "They asked for my social security number, it's {ssn}.",
        "My tax file number is {tfn} if you need it.",
        "TFN: {tfn}",
    ],
    "dob": [
        "I was born on {dob}, so the age check should pass.",
        "Date of birth: {dob}",
        "My DOB is {dob} if you need to verify me.",
        "{dob} is my birthday, the form shows it wrong.",
    ],
    "mixed": [
        "Reach me at {email} or on {phone}, whichever is easier.",
        "Card {card} was charged; my number is {phone}.",
        "Born {dob}, email {email}, please update the file.",
    ],
}

NEGATIVE_TEMPLATES = [
    "The order {order} cost {amount} and arrived on {date}.",
    "I bought {qty} items for {amount} each on {date}.",
    "Invoice #{order} was paid on {date} at {time}.",
    "Your app version {version} crashes when I open order {order}.",
    "The delivery window was {time} to {time2} on {date}.",
    "Tracking number {tracking} shows it left the depot on {date}.",
    "We have {big} customers and a {pct}% discount until {date}.",
    "Refund of {amount} for order {order}, reference {ref}.",
]


def _tfn(rng: random.Random) -> str:
    while True:
        head = [rng.randint(0, 9) for _ in range(8)]
        total = sum(d * w for d, w in zip(head, (1, 4, 3, 7, 5, 8, 6, 9), strict=True))
        last = total % 11  # weight 10 ≡ -1 (mod 11)
        if last < 10 and len(set(head)) > 1:
            digits = "".join(map(str, head)) + str(last)
            return digits if rng.random() < 0.5 else f"{digits[:3]} {digits[3:6]} {digits[6:]}"


# How issuers print card numbers of each length (others are written unbroken).
CARD_LAYOUTS = {16: (4, 4, 4, 4), 15: (4, 6, 5), 14: (4, 6, 4), 19: (4, 4, 4, 4, 3)}


def _card(number: str, rng: random.Random) -> str:
    style = rng.choice(["", " ", "-"])
    layout = CARD_LAYOUTS.get(len(number))
    if not style or layout is None:
        return number
    parts, at = [], 0
    for size in layout:
        parts.append(number[at : at + size])
        at += size
    return style.join(parts)


def _iban(value: str, rng: random.Random) -> str:
    if rng.random() < 0.5:
        return value
    return " ".join(value[i : i + 4] for i in range(0, len(value), 4))


def _dob(fake: Faker, rng: random.Random) -> str:
    date = fake.date_of_birth(minimum_age=18, maximum_age=90)
    formats = ["%d/%m/%Y", "%m/%d/%Y", "%Y-%m-%d", "%d.%m.%Y", "%d %B %Y", "%B %d, %Y"]
    return date.strftime(rng.choice(formats))


def _entity(kind: str, fake: Faker, rng: random.Random) -> tuple[str, str]:
    makers: dict[str, Callable[[], str]] = {
        "email": lambda: rng.choice([fake.email, fake.free_email, fake.company_email])(),
        "phone": fake.phone_number,
        "card": lambda: _card(fake.credit_card_number(), rng),
        "iban": lambda: _iban(fake.iban(), rng),
        "ip": lambda: fake.ipv4_public() if rng.random() < 0.6 else fake.ipv6(),
        "ssn": lambda: _us_ssn(rng),
        "tfn": lambda: _tfn(rng),
        "dob": lambda: _dob(fake, rng),
    }
    value = makers[kind]()
    return value, ("ssn" if kind == "tfn" else kind)


def _us_ssn(rng: random.Random) -> str:
    area = rng.choice([a for a in range(1, 900) if a != 666])
    return f"{area:03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"


def _negative_values(fake: Faker, rng: random.Random) -> dict[str, str]:
    return {
        "order": str(rng.randint(1000, 99_999_999)),
        "amount": rng.choice(["$", "€", "", "AUD "])
        + f"{rng.randint(1, 4999)}.{rng.randint(0, 99):02d}",
        "date": fake.date_between("-2y", "today").strftime(
            rng.choice(["%d/%m/%Y", "%Y-%m-%d", "%d.%m.%Y", "%B %d, %Y"])
        ),
        "qty": str(rng.randint(2, 500)),
        "time": f"{rng.randint(0, 23):02d}:{rng.choice(['00', '15', '30', '45'])}",
        "time2": f"{rng.randint(0, 23):02d}:{rng.choice(['00', '30'])}",
        "version": ".".join(str(rng.randint(0, 20)) for _ in range(rng.choice([2, 3]))),
        "tracking": fake.bothify("??#########??").upper(),
        "big": f"{rng.randint(1, 999)},{rng.randint(0, 999):03d}",
        "pct": str(rng.randint(5, 70)),
        "ref": fake.bothify("REF-####-??").upper(),
    }


def _fill(template: str, values: Callable[[str], tuple[str, str] | str]) -> Sample:
    builder = _Builder()
    rest = template
    while "{" in rest:
        before, _, after = rest.partition("{")
        slot, _, rest = after.partition("}")
        builder.text(before)
        produced = values(slot)
        if isinstance(produced, tuple):
            builder.entity(*produced)
        else:
            builder.text(produced)
    builder.text(rest)
    return builder.build()


def generate_samples(samples: int = 600, seed: int = DEFAULT_SEED) -> list[Sample]:
    """`samples` labelled sentences (about one in five a negative), deterministic per seed."""
    rng = random.Random(seed)
    fakers = {locale: Faker(locale) for locale in LOCALES}
    for index, fake in enumerate(fakers.values()):
        fake.seed_instance(seed + index)
    out: list[Sample] = []
    kinds = list(TEMPLATES)
    while len(out) < samples:
        locale = rng.choice(LOCALES)
        fake = fakers[locale]
        if rng.random() < 0.2:
            negatives = _negative_values(fake, rng)
            out.append(_fill(rng.choice(NEGATIVE_TEMPLATES), lambda slot, n=negatives: n[slot]))
            continue
        kind = rng.choice(kinds)
        iban_fake = fakers[rng.choice(("de_DE", "en_GB"))] if locale in ("en_US", "en_AU") else fake
        template = rng.choice(TEMPLATES[kind])

        def value(slot: str, fake: Faker = fake, iban_fake: Faker = iban_fake) -> tuple[str, str]:
            return _entity(slot, iban_fake if slot == "iban" else fake, rng)

        out.append(_fill(template, value))
    return out


def score(samples: list[Sample], detector: Detector) -> dict[str, Any]:
    """Span-level precision, recall and F2 (overlap, same kind), overall and per kind."""
    per_kind = {k: {"tp_pred": 0, "pred": 0, "tp_gold": 0, "gold": 0} for k in PATTERN_KINDS}
    for sample in samples:
        predicted = [s for s in detector.find(sample.text) if s.kind in per_kind]
        for span in predicted:
            per_kind[span.kind]["pred"] += 1
            if any(span.kind == g.kind and span.overlaps(g) for g in sample.spans):
                per_kind[span.kind]["tp_pred"] += 1
        for gold in sample.spans:
            per_kind[gold.kind]["gold"] += 1
            if any(gold.kind == p.kind and gold.overlaps(p) for p in predicted):
                per_kind[gold.kind]["tp_gold"] += 1
    keys = ("tp_pred", "pred", "tp_gold", "gold")
    totals = {key: sum(c[key] for c in per_kind.values()) for key in keys}
    result = _prf(totals)
    result["per_kind"] = {kind: _prf(counts) for kind, counts in per_kind.items()}
    return result


def _prf(counts: dict[str, int]) -> dict[str, Any]:
    precision = counts["tp_pred"] / counts["pred"] if counts["pred"] else 1.0
    recall = counts["tp_gold"] / counts["gold"] if counts["gold"] else 1.0
    denominator = 4 * precision + recall
    f2 = 5 * precision * recall / denominator if denominator else 0.0
    return {
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f2": round(f2, 4),
        "gold": counts["gold"],
        "predicted": counts["pred"],
    }


def _large_text(samples: list[Sample], seed: int, target_bytes: int) -> str:
    """Prose paragraphs with the labelled sentences mixed in (one per paragraph)."""
    fake = Faker("en_US")
    fake.seed_instance(seed)
    paragraphs = [fake.paragraph(nb_sentences=6) for _ in range(400)]
    chunks: list[str] = []
    size = 0
    index = 0
    while size < target_bytes:
        chunk = paragraphs[index % len(paragraphs)] + " " + samples[index % len(samples)].text
        chunks.append(chunk)
        size += len(chunk.encode("utf-8")) + 1
        index += 1
    return "\n".join(chunks)


def tokenize_speed(
    samples: list[Sample], seed: int, target_bytes: int = 4_000_000, repeat: int = 3
) -> dict[str, Any]:
    """MB/s of `Tokenizer.tokenize_text` over a large text, with a real vault in memory.

    The best of `repeat` runs, each with a fresh vault and tokenizer (so every run mints
    and stores every value it finds, as a first sight of the text would): the best run is
    the one least disturbed by other work on the machine.
    """
    text = _large_text(samples, seed, target_bytes)
    best = float("inf")
    tokens_written = 0
    with tempfile.TemporaryDirectory(prefix="silo-bench-") as tmp:
        create_vault_keys(Path(tmp) / "keys")
        for _ in range(max(1, repeat)):
            conn = sqlite3.connect(":memory:")
            try:
                tokenizer = Tokenizer(Vault(conn, Path(tmp) / "keys"))
                scope = tokenizer.vault.scope_for("bench-customer")
                tokenizer.load_known(
                    {"name": "Harriet Quill", "email": "harriet.quill@example.org",
                     "phone": "+61 491 570 110", "address": "8 Banksia Road, Hobart TAS 7000"},
                    {"name": "name", "email": "email", "phone": "phone", "address": "addr"},
                    scope,
                )
                started = time.perf_counter()
                tokenized = tokenizer.tokenize_text(text, scope)
                best = min(best, time.perf_counter() - started)
                tokens_written = tokenized.count("_tk_")
            finally:
                conn.close()
    megabytes = len(text.encode("utf-8")) / 1_000_000
    return {
        "tokenize_mb_s": round(megabytes / best, 2) if best > 0 else 0.0,
        "tokenize_mb": round(megabytes, 2),
        "tokens_written": tokens_written,
    }


# Presidio's predefined pattern recognizers for the kinds SiloOS scores, by class name.
PRESIDIO_RECOGNIZERS = (
    "EmailRecognizer", "PhoneRecognizer", "CreditCardRecognizer", "IbanRecognizer",
    "IpRecognizer", "UsSsnRecognizer", "AuTfnRecognizer", "DateRecognizer",
)


def _tldextract_offline() -> None:
    """Make tldextract (Presidio's email check) use its bundled public-suffix snapshot.

    By default it first tries to download the list from the network; here there is no
    network, and each failed attempt logs a traceback and costs time inside the timing.
    """
    import tldextract
    import tldextract.tldextract as extract_module

    extract_module.TLD_EXTRACTOR = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


class _PresidioPatterns:
    """Presidio's predefined pattern recognizers, run without an NLP engine.

    Only the pattern recognizers are compared: Presidio's NER (spaCy) needs a model that
    cannot be installed offline, and SiloOS's own detector is patterns plus known values.
    Each recognizer's `analyze` runs the same regexes, validation and context-free scoring
    it runs inside `AnalyzerEngine`; every result (any score) counts as a prediction.
    """

    def __init__(self) -> None:
        from presidio_analyzer import predefined_recognizers as rec  # optional extra

        _tldextract_offline()
        self.names = [name for name in PRESIDIO_RECOGNIZERS if hasattr(rec, name)]
        self._recognizers = [getattr(rec, name)() for name in self.names]

    def find(self, text: str) -> list[Span]:
        spans = []
        for recognizer in self._recognizers:
            for r in recognizer.analyze(text, recognizer.supported_entities, None) or []:
                if r.entity_type in PRESIDIO_KINDS:
                    spans.append(Span(r.start, r.end, PRESIDIO_KINDS[r.entity_type]))
        return spans


def scan_speed(samples: list[Sample], detector: Detector, repeat: int = 3) -> float:
    """MB/s of `detector.find` over every sample sentence (the best of `repeat` passes,
    after one untimed warm-up call), the same measure for every detector compared."""
    texts = [sample.text for sample in samples]
    detector.find(texts[0] if texts else "")
    best = float("inf")
    for _ in range(max(1, repeat)):
        started = time.perf_counter()
        for text in texts:
            detector.find(text)
        best = min(best, time.perf_counter() - started)
    size = sum(len(text.encode("utf-8")) for text in texts) / 1_000_000
    return round(size / best, 2) if best > 0 else 0.0


def _presidio(samples: list[Sample]) -> tuple[dict[str, Any] | None, str | None]:
    try:
        detector = _PresidioPatterns()
    except ImportError as exc:
        return None, (
            f"presidio_analyzer is not installed ({exc.name or exc}): "
            "pip install 'siloos[presidio]'"
        )
    except Exception as exc:  # a broken optional install must not break the benchmark
        return None, f"presidio_analyzer could not start: {exc.__class__.__name__}: {exc}"
    result = score(samples, detector)
    result["scan_mb_s"] = scan_speed(samples, detector, repeat=1)
    result["recognizers"] = detector.names
    result["compared"] = "Presidio's pattern recognizers only (no spaCy model offline: no NER)"
    return result, None


def detector_benchmark(
    samples: int = 600, seed: int = DEFAULT_SEED, *, tokenize_bytes: int = 4_000_000
) -> dict[str, Any]:
    """The §14 `detector` figures plus `tokenize_mb_s`, and Presidio's beside them."""
    if samples < 1:
        raise ValueError("samples must be positive")
    generated = generate_samples(samples, seed)
    detector = PatternDetector()
    result = score(generated, detector)
    scan_mb_s = scan_speed(generated, detector)
    speed = tokenize_speed(generated, seed, tokenize_bytes)
    presidio, reason = _presidio(generated)
    return {
        "precision": result["precision"],
        "recall": result["recall"],
        "f2": result["f2"],
        "samples": len(generated),
        "per_kind": result["per_kind"],
        "match": "overlap with a gold span of the same kind",
        "seed": seed,
        "locales": list(LOCALES),
        "tokenize_mb_s": speed["tokenize_mb_s"],
        "tokenize_mb": speed["tokenize_mb"],
        "scan_mb_s": scan_mb_s,
        "presidio": presidio,
        "presidio_reason": reason,
    }
