"""Red-team review: real values reaching the cell or the store through side doors.

Each test puts a real value of the demo customer where the tokenizer does not look (a dict
key, a template's error message, an operator's `--input`) and checks the cell's reply or
what would be stored.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from test_membrane_support import AGENT, CAPS, CUSTOMER, Hop, make_hop

from siloos.exits import ExitContext, Registry, exit
from siloos.membrane.server import Membrane
from siloos.router.intake import take_in

REAL = ("Odalys", "Fernwhistle", "odalys.fernwhistle@example.com", "202-555-0147",
        "Larkspur", "C-1001", "O-5001")


def leaks(value: Any) -> list[str]:
    text = json.dumps(value).lower()
    reversed_text = text[::-1]
    return [r for r in REAL if r.lower() in text or r.lower() in reversed_text]


@exit("review.contacts", hydrate=("customer",), scope="customer")
def contacts(ctx: ExitContext, customer: str) -> dict[str, Any]:
    """An operator exit that indexes the customer's contacts by address."""
    row = ctx.services.backoffice.get_customer(customer)
    return {"by_address": {row["email"]: "primary"}}


def with_exit(hop: Hop, spec: Any) -> Hop:
    registry = Registry([*hop.registry, spec])
    hop.membrane.close_journal()  # one live membrane per hop
    membrane = Membrane(hop.membrane.session, verifier=hop.verifier, registry=registry,
                        store=hop.store, tokenizer=hop.tokenizer, services=hop.services)
    return Hop(**{**hop.__dict__, "registry": registry, "membrane": membrane})


def test_pii_in_a_result_key_does_not_reach_the_cell(tmp_path: Path) -> None:
    hop = with_exit(make_hop(tmp_path, caps={**CAPS, "review.contacts": {}}),
                    contacts.__silo_exit__)
    reply = hop.call("review.contacts", customer=hop.tokens["cust"])
    assert reply["ok"] is True
    assert leaks(reply) == []


def test_template_errors_never_carry_a_hydrated_value(tmp_path: Path) -> None:
    hop = make_hop(tmp_path, caps={**CAPS, "email.send": {"templates": ["probe"]}})
    (hop.root / "agents" / AGENT / "templates" / "probe.md").write_text(
        "---\nsubject: s\n---\n{{ {}[name|reverse] }}\n")
    reply = hop.call("email.send", to=hop.tokens["email"], template="probe",
                     variables={"name": hop.tokens["name"]})
    assert reply["ok"] is False
    assert leaks(reply) == []


def test_template_error_with_the_exact_value_is_masked(tmp_path: Path) -> None:
    """Holds: the exact hydrated spelling in an error is put back as its token."""
    hop = make_hop(tmp_path, caps={**CAPS, "email.send": {"templates": ["probe"]}})
    (hop.root / "agents" / AGENT / "templates" / "probe.md").write_text(
        "---\nsubject: s\n---\n{{ {}[name] }}\n")
    reply = hop.call("email.send", to=hop.tokens["email"], template="probe",
                     variables={"name": hop.tokens["name"]})
    assert reply["ok"] is False
    assert leaks(reply) == []
    assert hop.backoffice.outbox() == []


def runtime_for(hop: Hop) -> SimpleNamespace:
    """The handles `take_in` uses, from the hop's real store, vault and back office."""
    return SimpleNamespace(backoffice=hop.backoffice, vault=hop.vault,
                           registry=Registry([*hop.registry]), tokenizer=hop.tokenizer)


def test_intake_input_keys_are_tokenized(tmp_path: Path) -> None:
    """Holds (fixed in intake during the review): `--input` keys are scanned too."""
    hop = make_hop(tmp_path)
    intake = take_in(runtime_for(hop), customer=CUSTOMER, message="hello",
                     extra_input={"contacts": {"odalys.fernwhistle@example.com": "primary"}})
    assert leaks(intake.input) == []


def test_intake_input_values_and_message_are_tokenized(tmp_path: Path) -> None:
    """Holds: the same values as dict values or free text are tokenized at intake."""
    hop = make_hop(tmp_path)
    intake = take_in(runtime_for(hop), customer=CUSTOMER,
                     message="I am Odalys Fernwhistle, order O-5001, call 202-555-0147",
                     extra_input={"contacts": ["odalys.fernwhistle@example.com"]})
    assert leaks(intake.input) == []
