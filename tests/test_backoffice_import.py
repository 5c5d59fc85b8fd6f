"""CSV import into the demo back office: happy paths and every class of bad input.

Every failing import must leave the tables exactly as they were.
"""

from __future__ import annotations

import pytest

from siloos.backoffice import BackOffice
from siloos.errors import InputError

CUSTOMERS = (
    "id,name,email,phone,address,dob\n"
    "C-1,Wilhelmina Crane,w.crane@example.com,+1 202-555-0101,\"1 Elm St, Dover\",1980-02-03\n"
    "C-2,Ravi Olusegun,ravi.o@example.org,+44 7700 900123,\"9 Oak Rd, Leeds\",1975-12-30\n"
)
ORDER_HEADER = "id,customer_id,item,amount,status,created_at\n"


@pytest.fixture
def office(tmp_path):
    with BackOffice.open(tmp_path / ".silo" / "backoffice.db") as bo:
        yield bo


def write(tmp_path, name: str, content: str | bytes):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


@pytest.fixture
def with_customers(office, tmp_path):
    office.import_csv("customers", write(tmp_path, "customers.csv", CUSTOMERS))
    return office


def counts(office: BackOffice) -> tuple[int, int]:
    return office.count("customers"), office.count("orders")


def test_customers_and_orders_import(with_customers, tmp_path):
    office = with_customers
    orders = write(tmp_path, "orders.csv", ORDER_HEADER +
                   "O-1,C-1,Kettle,120.00,delivered,2025-03-01T10:00:00+00:00\n"
                   "O-2,C-1,Desk,750,delivered,2025-03-02\n"
                   "O-3,C-2,Lamp,0.5,shipped,2025-03-03T08:00:00Z\n")
    assert office.import_csv("orders", orders) == 3
    assert counts(office) == (2, 3)
    assert office.get_customer("C-1")["address"] == "1 Elm St, Dover"
    assert office.get_order("O-3")["amount"] == 0.5
    assert [o["order"] for o in office.list_orders("C-1")] == ["O-1", "O-2"]


def test_header_columns_may_come_in_any_order(office, tmp_path):
    path = write(tmp_path, "c.csv", "dob,id,email,name,address,phone\n"
                 "1990-01-01,C-9,a.b@example.com,Ada Byron,\"2 Hill Rd, Bath\",+44 7700 900999\n")
    assert office.import_csv("customers", path) == 1
    row = office.get_customer("C-9")
    assert (row["name"], row["phone"], row["dob"]) == ("Ada Byron", "+44 7700 900999",
                                                        "1990-01-01")


def test_bom_crlf_and_blank_lines_are_fine(office, tmp_path):
    text = CUSTOMERS.replace("\n", "\r\n").replace("\r\nC-2", "\r\n\r\nC-2")
    path = write(tmp_path, "c.csv", b"\xef\xbb\xbf" + text.encode())
    assert office.import_csv("customers", path) == 2


def test_error_names_file_line_and_column(with_customers, tmp_path):
    path = write(tmp_path, "orders.csv", ORDER_HEADER +
                 "O-1,C-1,Kettle,120.00,delivered,2025-03-01\n"
                 "O-2,C-1,Desk,abc,delivered,2025-03-01\n")
    with pytest.raises(InputError) as err:
        with_customers.import_csv("orders", path)
    assert str(err.value) == f"{path}:3: orders.amount: 'abc' is not a number"
    assert counts(with_customers) == (2, 0)


BAD_ORDERS = [
    ("O-1,C-1,Kettle,-1,delivered,2025-03-01", "orders.amount: '-1' must not be negative"),
    ("O-1,C-1,Kettle,1.005,delivered,2025-03-01", "more than two decimal places"),
    ("O-1,C-1,Kettle,NaN,delivered,2025-03-01", "is not a number"),
    ("O-1,C-1,Kettle,10,lost,2025-03-01", "orders.status: 'lost' is not an order status"),
    ("O-1,C-1,Kettle,10,delivered,yesterday", "orders.created_at: 'yesterday' is not an ISO"),
    ("O-1,C-1,,10,delivered,2025-03-01", "orders.item: is empty"),
    ("O 1,C-1,Kettle,10,delivered,2025-03-01", "orders.id: 'O 1' is not a valid id"),
    ("O-1,C-1,Kettle,10,delivered", "expected 6 fields, found 5"),
    ("O-1,C-404,Kettle,10,delivered,2025-03-01", "orders.customer_id: no customer 'C-404'"),
]


@pytest.mark.parametrize(("row", "message"), BAD_ORDERS)
def test_bad_order_rows_are_refused_whole(with_customers, tmp_path, row, message):
    # A good row first: it must not survive the bad one.
    path = write(tmp_path, "orders.csv", ORDER_HEADER +
                 "O-0,C-1,Mug,5.00,delivered,2025-03-01\n" + row + "\n")
    with pytest.raises(InputError, match=message) as err:
        with_customers.import_csv("orders", path)
    assert f"{path}:3: " in str(err.value)
    assert counts(with_customers) == (2, 0)


BAD_CUSTOMERS = [
    ("C-3,Ann Lee,not-an-email,+1 202-555-0102,\"3 Ash St, Kent\",1990-01-01",
     "customers.email: value is not an email address"),
    ("C-3,Ann Lee,ann@example.com,call me,\"3 Ash St, Kent\",1990-01-01",
     "customers.phone: value is not a phone number"),
    ("C-3,Ann Lee,ann@example.com,+1 202-555-0102,\"3 Ash St, Kent\",01/02/1990",
     "customers.dob: value is not an ISO date"),
    ("C-3,Ann Lee,ann@example.com,+1 202-555-0102,\"3 Ash St, Kent\",2999-01-01",
     "customers.dob: value is not a plausible date of birth"),
]


@pytest.mark.parametrize(("row", "message"), BAD_CUSTOMERS)
def test_bad_customer_rows_do_not_echo_personal_values(office, tmp_path, row, message):
    path = write(tmp_path, "c.csv", CUSTOMERS + row + "\n")
    with pytest.raises(InputError, match=message) as err:
        office.import_csv("customers", path)
    assert ":4: " in str(err.value)
    for secret in ("not-an-email", "call me", "01/02/1990", "2999-01-01"):
        assert secret not in str(err.value)
    assert counts(office) == (0, 0)


def test_duplicate_id_within_the_file(office, tmp_path):
    path = write(tmp_path, "c.csv", CUSTOMERS + CUSTOMERS.splitlines()[1] + "\n")
    expected = r":4: customers.id: duplicate id 'C-1' \(also on line 2\)"
    with pytest.raises(InputError, match=expected):
        office.import_csv("customers", path)
    assert counts(office) == (0, 0)


def test_duplicate_id_against_the_database(with_customers, tmp_path):
    path = write(tmp_path, "c2.csv", "id,name,email,phone,address,dob\n"
                 "C-7,New Person,new@example.com,+1 202-555-0109,\"5 Bay Rd, Hull\",1999-09-09\n"
                 + CUSTOMERS.splitlines()[2] + "\n")
    with pytest.raises(InputError, match=r":3: customers.id: 'C-2' already exists"):
        with_customers.import_csv("customers", path)
    assert counts(with_customers) == (2, 0)


@pytest.mark.parametrize(("content", "message"), [
    ("", "empty file"),
    ("\n\n", "empty file"),
    ("id,name,email,phone,address,dob\n", "no data rows"),
    ("id,name,email,phone,address\nC-1,a,b,c,d\n", r":1: customers header .*missing dob"),
    ("id,name,email,phone,address,dob,notes\n", r"unexpected 'notes'"),
    ("id,id,name,email,phone,address,dob\n", "repeated id"),
    (b"id,name\x00,email\n", "binary file"),
    (b"id,name,email,phone,address,dob\nC-1,Ren\xe9,r@example.com,+1 202-555-0100,x,1990-01-01\n",
     r":2: not UTF-8 text \(invalid byte 0xe9\)"),
    ('id,name,email,phone,address,dob\nC-1,"Unclosed,a@example.com,+1 202-555-0100,x,1990-01-01\n',
     "malformed CSV"),
])
def test_unreadable_files_are_refused(office, tmp_path, content, message):
    path = write(tmp_path, "c.csv", content)
    with pytest.raises(InputError, match=message):
        office.import_csv("customers", path)
    assert counts(office) == (0, 0)


def test_missing_file_directory_and_unknown_table(office, tmp_path):
    with pytest.raises(InputError, match="no such file"):
        office.import_csv("customers", tmp_path / "nope.csv")
    with pytest.raises(InputError, match="is a directory"):
        office.import_csv("customers", tmp_path)
    with pytest.raises(InputError, match="unknown table 'refunds'"):
        office.import_csv("refunds", write(tmp_path, "r.csv", "id\n1\n"))


def test_line_numbers_count_multiline_fields(office, tmp_path):
    path = write(tmp_path, "c.csv", "id,name,email,phone,address,dob\n"
                 "C-1,Ann Lee,ann@example.com,+1 202-555-0102,\"3 Ash St\nKent\",1990-01-01\n"
                 "C-2,Bo Li,bad,+1 202-555-0103,\"4 Ash St\",1990-01-01\n")
    with pytest.raises(InputError, match=r":4: customers.email"):
        office.import_csv("customers", path)
