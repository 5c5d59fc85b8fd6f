"""The demo back office exits (design §11): customers, orders, refunds, email.

They are written exactly as an operator would write their own (design §11.1). The real
storage lives behind `ctx.services.backoffice` (a `siloos.backoffice.BackOffice`), so
these functions only state the contract: arguments, PII fields, hydration, constraints.
Arguments listed in `hydrate` arrive as real values; every other argument arrives as sent.

This module is also where the back office's own errors become exit errors
(`back_office_errors`): the back office knows nothing of exits, the membrane nothing of
the back office.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from siloos.backoffice import NotFound, Refused
from siloos.exits.errors import ExitRefused, NotInScope
from siloos.exits.spec import ExitContext, exit


@contextmanager
def back_office_errors() -> Iterator[None]:
    """Speak for the back office in exit errors: `NotFound` → `NotInScope` (an unknown id
    reads the same as someone else's), `Refused` → `ExitRefused` with the same message.

    Usable as `with back_office_errors():` or as a decorator under `@exit`."""
    try:
        yield
    except NotFound:
        raise NotInScope("not in this task's scope") from None
    except Refused as err:
        raise ExitRefused(str(err)) from None


def backoffice(ctx: ExitContext) -> Any:
    """The back office among the exit services (its absence is a wiring fault: 500)."""
    office = ctx.services.backoffice
    if office is None:
        raise LookupError("no back office among the exit services")
    return office


def _own_customer(ctx: ExitContext, customer_id: str) -> None:
    # Defence in depth: the membrane already checked token scope; the exit checks again
    # against the system of record.
    if ctx.customer_id is None or customer_id != ctx.customer_id:
        raise ExitRefused("customer is outside this task's scope")


@exit("customers.get",
      pii={"customer": "cust", "name": "name", "email": "email", "phone": "phone",
           "address": "addr"},
      hydrate=("customer",), scope="customer")
@back_office_errors()
def customers_get(ctx: ExitContext, customer: str) -> dict[str, Any]:
    """Look up the task's customer: name, email, phone and address (all tokenized)."""
    _own_customer(ctx, customer)
    row = backoffice(ctx).get_customer(customer)
    return {k: row[k] for k in ("customer", "name", "email", "phone", "address")}


@exit("orders.list", pii={"order": "ord"}, hydrate=("customer",), scope="customer")
@back_office_errors()
def orders_list(ctx: ExitContext, customer: str) -> list[dict[str, Any]]:
    """List the customer's orders: order, item, amount, status, created_at."""
    _own_customer(ctx, customer)
    return [
        {k: o[k] for k in ("order", "item", "amount", "status", "created_at")}
        for o in backoffice(ctx).list_orders(customer)
    ]


@exit("orders.get", pii={"order": "ord", "customer": "cust"}, hydrate=("order",),
      scope="customer")
@back_office_errors()
def orders_get(ctx: ExitContext, order: str) -> dict[str, Any]:
    """One order: item, amount, status, created_at and its customer."""
    row = backoffice(ctx).get_order(order)
    _own_customer(ctx, row["customer"])
    return {k: row[k] for k in ("order", "item", "amount", "status", "created_at", "customer")}


@exit("refunds.issue",
      constraints={"max_amount": ("amount", "<="), "orders": ("order", "in")},
      hydrate=("order",), scope="customer")
@back_office_errors()
def refunds_issue(ctx: ExitContext, order: str, amount: float, reason: str) -> dict[str, Any]:
    """Refund `amount` on a delivered order. Idempotent per (task, hop, call sequence)."""
    bo = backoffice(ctx)
    row = bo.get_order(order)
    _own_customer(ctx, row["customer"])
    if isinstance(amount, bool) or not isinstance(amount, int | float) or amount <= 0:
        raise ExitRefused("amount must be a positive number")
    if amount > row["amount"]:
        raise ExitRefused("amount exceeds the order total")
    refund_id = bo.issue_refund(order_id=order, amount=float(amount), reason=reason,
                                task_id=ctx.task_id, hop=ctx.hop,
                                idempotency_key=ctx.idempotency_key)
    return {"refund_id": refund_id, "status": "issued"}


@exit("email.send", constraints={"templates": ("template", "in")},
      hydrate=("to", "variables"), scope="customer")
@back_office_errors()
def email_send(ctx: ExitContext, to: str, template: str,
               variables: dict[str, Any] | None = None) -> dict[str, Any]:
    """Send one of the agent's message templates; rendered host-side with real values."""
    from siloos.exits.templates import render_template

    # Only ever to the task's own customer: a cell that launders some other address into a
    # token of this scope (from a model reply, say) still cannot mail the data out.
    if ctx.customer_id is None:
        raise ExitRefused("email.send needs a task with a customer")
    own = str(backoffice(ctx).get_customer(ctx.customer_id).get("email", ""))
    if not own or to.strip().lower() != own.strip().lower():
        raise ExitRefused("email.send: the recipient must be the task's customer")
    subject, body = render_template(ctx.agent_dir, template, variables or {})
    message_id = backoffice(ctx).send_email(
        to=to, subject=subject, body=body, template=template, task_id=ctx.task_id,
        hop=ctx.hop, idempotency_key=ctx.idempotency_key)
    return {"message_id": message_id, "status": "sent"}
