"""The demo back office: the system of record SiloOS's exits talk to (design §11).

`.silo/backoffice.db` holds customers, orders, refunds and an outbox of sent messages,
with real values and real ids — it is the company's data, not SiloOS's state. Public
names: `BackOffice.open(path)` (get_customer, list_orders, get_order, issue_refund,
send_email, outbox, import_csv, seed_demo), its errors `BackOfficeError`, `NotFound` and
`Refused`, and the column and status lists of `siloos.backoffice.schema`. It knows nothing
of exits: the demo exits translate its errors into theirs.
"""

from siloos.backoffice.errors import BackOfficeError, NotFound, Refused
from siloos.backoffice.office import BackOffice
from siloos.backoffice.schema import CUSTOMER_COLUMNS, ORDER_COLUMNS, ORDER_STATUSES

__all__ = ["CUSTOMER_COLUMNS", "ORDER_COLUMNS", "ORDER_STATUSES", "BackOffice",
           "BackOfficeError", "NotFound", "Refused"]
