"""The back office's rules (refunds, outbox, lookups) and the demo exits running on it."""

from __future__ import annotations

import threading

import pytest

from siloos.backoffice import BackOffice, NotFound, Refused
from siloos.exits import ExitRefused, ExitServices, NotInScope
from siloos.exits.backoffice import (
    customers_get,
    email_send,
    orders_get,
    orders_list,
    refunds_issue,
)
from siloos.exits.privacy import customers_compare
from siloos.exits.spec import ExitContext


@pytest.fixture
def office(tmp_path):
    with BackOffice.open(tmp_path / ".silo" / "backoffice.db") as bo:
        bo.seed_demo()
        yield bo


def refund(office: BackOffice, amount: float, key: str, order: str = "O-5001",
           reason: str = "damaged") -> str:
    return office.issue_refund(order_id=order, amount=amount, reason=reason,
                               task_id="task_aaaaaaaaaaaaaaaa", hop=1, idempotency_key=key)


def test_demo_data_has_the_scenario_orders(office):
    assert office.count("customers") == 5 and office.count("orders") == 10
    delivered = {o["amount"] for o in office.list_orders("C-1001") if o["status"] == "delivered"}
    assert {120.0, 750.0} <= delivered
    assert office.seed_demo() == {"customers": 0, "orders": 0}  # loaded once
    assert office.count("customers") == 5


def test_lookups_have_the_exit_keys(office):
    assert set(office.get_customer("C-1001")) == {"customer", "name", "email", "phone",
                                                  "address", "dob"}
    order = office.get_order("O-5001")
    assert order == {"order": "O-5001", "item": "Burr espresso grinder", "amount": 120.0,
                     "status": "delivered", "created_at": "2025-03-02T10:15:00+00:00",
                     "customer": "C-1001"}
    assert all(set(o) == set(order) for o in office.list_orders("C-1001"))


@pytest.mark.parametrize("call", [
    lambda bo: bo.get_customer("C-9999"),
    lambda bo: bo.get_order("O-9999"),
    lambda bo: bo.list_orders("C-9999"),
])
def test_unknown_ids_raise_not_found_without_naming_them(office, call):
    with pytest.raises(NotFound) as err:
        call(office)
    assert "9999" not in str(err.value)


def test_refund_is_idempotent_per_key(office):
    first = refund(office, 49.99, "t/1/1")
    assert refund(office, 49.99, "t/1/1") == first
    assert len(office.refunds("O-5001")) == 1
    with pytest.raises(Refused, match="different refund"):
        refund(office, 50.00, "t/1/1")
    assert len(office.refunds("O-5001")) == 1


def test_refunds_never_exceed_the_order_total(office):
    refund(office, 0.1, "k1")
    refund(office, 0.2, "k2")
    with pytest.raises(Refused, match=r"exceed the order total 120.00 \(0.30 already"):
        refund(office, 119.71, "k3")
    refund(office, 119.70, "k4")  # exactly the rest: float sums must not get in the way
    with pytest.raises(Refused, match="exceed"):
        refund(office, 0.01, "k5")
    assert sum(r["amount"] for r in office.refunds("O-5001")) == pytest.approx(120.0)


@pytest.mark.parametrize(("amount", "message"), [
    (0, "positive"), (-5, "negative"), (1.005, "two decimal"), (float("inf"), "not a number"),
    (True, "not a number"),
])
def test_bad_refund_amounts(office, amount, message):
    with pytest.raises(Refused, match=message):
        refund(office, amount, "bad")
    assert office.refunds() == []


@pytest.mark.parametrize("order", ["O-5003", "O-5005", "O-5007", "O-5009"])
def test_only_delivered_orders_are_refunded(office, order):
    with pytest.raises(Refused, match="only delivered orders"):
        refund(office, 1.0, "k", order=order)


def test_refund_needs_reason_and_key(office):
    with pytest.raises(Refused, match="reason"):
        refund(office, 1.0, "k", reason="  ")
    with pytest.raises(Refused, match="idempotency"):
        refund(office, 1.0, "")


def test_concurrent_refunds_from_two_connections_cannot_overdraw(office, tmp_path):
    second = BackOffice.open(office.path)
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt(bo: BackOffice, key: str) -> None:
        try:
            refund(bo, 700.0, key, order="O-5002")
            result = "issued"
        except Refused:
            result = "refused"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=attempt, args=(bo, f"k{i}"))
               for i, bo in enumerate([office, second, office, second])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    second.close()
    assert sorted(outcomes) == ["issued", "refused", "refused", "refused"]
    assert len(office.refunds("O-5002")) == 1


def send(office: BackOffice, key: str, to: str = "odalys.fernwhistle@example.com",
         body: str = "Your refund is on its way.\n") -> str:
    return office.send_email(to=to, subject="Refund issued", body=body,
                             template="refund-confirmation", task_id="task_aaaaaaaaaaaaaaaa",
                             hop=1, idempotency_key=key)


def test_email_is_idempotent_and_listed_in_the_outbox(office):
    message_id = send(office, "t/1/2")
    assert send(office, "t/1/2") == message_id
    with pytest.raises(Refused, match="different message"):
        send(office, "t/1/2", body="something else")
    box = office.outbox()
    assert len(box) == 1
    assert box[0]["message_id"] == message_id
    assert box[0]["to"] == "odalys.fernwhistle@example.com"
    assert set(box[0]) == {"message_id", "to", "subject", "body", "template", "task_id", "hop",
                           "sent_at"}


@pytest.mark.parametrize("to", ["email_tk_0123456789ab", "", "two@@example.com"])
def test_email_to_something_not_an_address_is_refused(office, to):
    with pytest.raises(Refused, match="not an email address"):
        send(office, "k", to=to)
    assert office.outbox() == []


# -- the demo exits, run on a real back office --------------------------------------------

def ctx(office: BackOffice, *, customer: str | None = "C-1001", seq: int = 1,
        agent_dir=None) -> ExitContext:
    return ExitContext(task_id="task_aaaaaaaaaaaaaaaa", hop=1, call_seq=seq,
                       customer_id=customer, grants={}, agent_dir=agent_dir,
                       services=ExitServices(backoffice=office))


def test_exits_read_the_back_office(office):
    assert customers_get(ctx(office), customer="C-1001")["name"] == "Odalys Fernwhistle"
    assert "dob" not in customers_get(ctx(office), customer="C-1001")
    listed = orders_list(ctx(office), customer="C-1001")
    assert {o["order"] for o in listed} == {"O-5001", "O-5002", "O-5003"}
    assert orders_get(ctx(office), order="O-5002")["amount"] == 750.0


def test_exits_refuse_other_customers(office):
    with pytest.raises(ExitRefused, match="scope"):
        customers_get(ctx(office), customer="C-1002")
    with pytest.raises(ExitRefused, match="scope"):
        orders_get(ctx(office), order="O-5004")
    with pytest.raises(ExitRefused, match="scope"):
        refunds_issue(ctx(office), order="O-5004", amount=10.0, reason="x")
    assert office.refunds() == []


def test_exits_speak_for_the_back_office_in_exit_errors(office):
    # An id the back office does not know reads as "not in scope", never as its message.
    with pytest.raises(NotInScope) as unknown:
        orders_get(ctx(office), order="O-9999")
    assert not isinstance(unknown.value, NotFound) and "9999" not in str(unknown.value)
    with pytest.raises(NotInScope):
        customers_compare(ctx(office, customer="C-9999"), customer="C-9999", claimed={})
    # A back-office rule that declines becomes ExitRefused with the very same message.
    with pytest.raises(Refused) as direct:
        refund(office, 1.0, "k", order="O-5003")
    with pytest.raises(ExitRefused) as via_exit:
        refunds_issue(ctx(office), order="O-5003", amount=1.0, reason="x")
    assert not isinstance(via_exit.value, Refused)
    assert str(via_exit.value) == str(direct.value)
    assert office.refunds() == []


def test_exits_without_a_back_office_fail_as_a_wiring_fault():
    bare = ExitContext(task_id="task_aaaaaaaaaaaaaaaa", hop=1, call_seq=1,
                       customer_id="C-1001", grants={})
    with pytest.raises(LookupError, match="no back office"):
        customers_get(bare, customer="C-1001")


def test_refund_exit_retry_does_not_refund_twice(office):
    first = refunds_issue(ctx(office, seq=4), order="O-5001", amount=49.99, reason="damaged")
    again = refunds_issue(ctx(office, seq=4), order="O-5001", amount=49.99, reason="damaged")
    assert first == again and first["status"] == "issued"
    assert len(office.refunds()) == 1
    refunds_issue(ctx(office, seq=5), order="O-5001", amount=10.0, reason="shipping")
    assert len(office.refunds()) == 2


def test_email_exit_renders_and_sends(office, tmp_path):
    agent = tmp_path / "agent"
    (agent / "templates").mkdir(parents=True)
    (agent / "templates" / "refund-confirmation.md").write_text(
        "---\nsubject: Refund for {{ item }}\n---\nHello {{ name }}, we refunded {{ amount }}.\n")
    result = email_send(ctx(office, seq=2, agent_dir=agent), to="odalys.fernwhistle@example.com",
                        template="refund-confirmation",
                        variables={"name": "Odalys", "item": "grinder", "amount": "49.99"})
    assert result["status"] == "sent"
    sent = office.outbox()[0]
    assert sent["subject"] == "Refund for grinder"
    assert sent["body"] == "Hello Odalys, we refunded 49.99.\n"


def test_compare_exit_sees_dob(office):
    import hashlib

    digest = hashlib.sha256(b"1986-04-17").hexdigest()
    assert customers_compare(ctx(office), customer="C-1001", claimed={"dob": digest}) == \
        {"equal": {"dob": True}}


def test_back_office_file_is_private_and_junk_is_refused(tmp_path):
    import stat

    from siloos.errors import InputError

    path = tmp_path / "backoffice.db"
    BackOffice.open(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database" * 200)
    with pytest.raises(InputError, match="not a usable back office database"):
        BackOffice.open(junk)
