"""Reading and validating `customers` / `orders` CSV files for `silo data import`.

Rules (design §11, decided here where the design is silent):
- UTF-8 text (a byte-order mark is allowed); a NUL byte means a binary file.
- The first row is the header and must name exactly the table's columns, each once.
  Their order is free: the names, not the positions, say what a column holds.
- Every field is required. Values are stripped of surrounding spaces. Blank lines are
  skipped. At least one data row. Only `address` may span lines (a quoted field).
- Ids: 1 to 64 characters of letters, digits and `. _ : -`, starting with a letter or digit.
- `amount`: a non-negative decimal with at most two decimal places; `status` one of
  `ORDER_STATUSES`; `created_at` an ISO date or date-time; `dob` an ISO date in the past.
- Every error names the file, the line and `table.column`. Values of the personal
  columns (name, email, phone, address, dob) are not echoed into the message.

This module only reads; `BackOffice.import_csv` checks ids against the database and
writes everything in one transaction.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from siloos.backoffice.money import BadAmount, to_cents
from siloos.backoffice.schema import CUSTOMER_COLUMNS, ORDER_COLUMNS, ORDER_STATUSES
from siloos.errors import InputError

TABLES: dict[str, tuple[str, ...]] = {"customers": CUSTOMER_COLUMNS, "orders": ORDER_COLUMNS}
#: Columns whose values are personal data: never repeated in an error message.
PERSONAL = {"name", "email", "phone", "address", "dob"}
MAX_FILE_BYTES = 64 * 1024 * 1024

ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s.]{2,}$")
PHONE = re.compile(r"^\+?[0-9][0-9 ().-]{4,30}$")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class BadValue(ValueError):
    """A field failed validation; the message is the part after `table.column: `."""


@dataclass(frozen=True)
class ParsedRow:
    """One validated data row: its values in the table's column order, and its line."""

    line: int
    values: tuple[Any, ...]

    @property
    def id(self) -> str:
        return str(self.values[0])


def read_table(table: str, path: Path | str) -> list[ParsedRow]:
    """Read and validate a whole file; raises `InputError` at the first problem."""
    columns = TABLES.get(table)
    if columns is None:
        raise InputError(f"unknown table {table!r}; expected one of: {', '.join(TABLES)}")
    text = _read_text(Path(path), shown=path)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[ParsedRow] = []
    header: list[str] | None = None
    seen: dict[str, int] = {}
    line = 1
    try:
        for record in reader:
            start, line = line, reader.line_num + 1  # a quoted field may span lines
            if not record or (len(record) == 1 and not record[0].strip()):
                continue
            if header is None:
                header = _check_header(table, columns, record, path, start)
                continue
            row = _parse_row(table, columns, header, record, path, start)
            if row.id in seen:
                raise InputError(f"{table}.id: duplicate id {row.id!r} (also on line "
                                 f"{seen[row.id]})", path=path, line=start)
            seen[row.id] = start
            rows.append(row)
    except csv.Error as err:
        raise InputError(f"malformed CSV: {err}", path=path, line=reader.line_num) from None
    if header is None:
        raise InputError(f"empty file: expected a header row ({', '.join(columns)})", path=path)
    if not rows:
        raise InputError("no data rows after the header", path=path)
    return rows


def _read_text(path: Path, *, shown: Path | str) -> str:
    try:
        if path.is_dir():
            raise InputError("is a directory, not a CSV file", path=shown)
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise InputError(f"file too large ({size} bytes; limit {MAX_FILE_BYTES})",
                             path=shown)
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError("no such file", path=shown) from None
    except OSError as err:
        raise InputError(f"cannot read: {err.strerror or err}", path=shown) from None
    if b"\x00" in data:
        raise InputError("binary file (contains NUL bytes), not CSV text", path=shown)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise InputError(f"not UTF-8 text (invalid byte 0x{data[err.start]:02x})",
                         path=shown, line=line) from None


def _check_header(table: str, columns: tuple[str, ...], record: list[str],
                  path: Path | str, line: int) -> list[str]:
    names = [name.strip() for name in record]
    missing = [c for c in columns if c not in names]
    unexpected = [n for n in names if n not in columns]
    doubled = sorted({n for n in names if names.count(n) > 1})
    if missing or unexpected or doubled:
        problems = []
        if missing:
            problems.append(f"missing {', '.join(missing)}")
        if unexpected:
            problems.append(f"unexpected {', '.join(repr(n) for n in unexpected)}")
        if doubled:
            problems.append(f"repeated {', '.join(doubled)}")
        raise InputError(f"{table} header must name exactly the columns "
                         f"{', '.join(columns)} ({'; '.join(problems)})", path=path, line=line)
    return names


def _parse_row(table: str, columns: tuple[str, ...], header: list[str], record: list[str],
               path: Path | str, line: int) -> ParsedRow:
    if len(record) != len(header):
        raise InputError(f"expected {len(header)} fields, found {len(record)}",
                         path=path, line=line)
    by_name = {name: value.strip() for name, value in zip(header, record, strict=True)}
    values = []
    for column in columns:
        value = by_name[column]
        try:
            if not value:
                raise BadValue("is empty")
            values.append(VALIDATORS[column](value))
        except BadValue as err:
            shown = "value" if column in PERSONAL else repr(value)
            message = f"{shown} {err}" if value else "is empty"
            raise InputError(f"{table}.{column}: {message}", path=path, line=line) from None
    return ParsedRow(line=line, values=tuple(values))


# -- field validators: return the stored value or raise BadValue -------------------------

def _id(value: str) -> str:
    if not ID.match(value):
        raise BadValue("is not a valid id (1-64 letters, digits, '.', '_', ':', '-')")
    return value


def _text(limit: int, *, multiline: bool = False) -> Callable[[str], str]:
    def check(value: str) -> str:
        if len(value) > limit:
            raise BadValue(f"is longer than {limit} characters")
        if multiline:  # postal addresses are often written on several lines
            value = value.replace("\r\n", "\n")
        if CONTROL.search(value.replace("\n", "") if multiline else value):
            raise BadValue("contains control characters")
        return value
    return check


def _email(value: str) -> str:
    if len(value) > 254 or not EMAIL.match(value):
        raise BadValue("is not an email address")
    return value


def _phone(value: str) -> str:
    if not PHONE.match(value) or sum(ch.isdigit() for ch in value) < 6:
        raise BadValue("is not a phone number")
    return value


def _dob(value: str) -> str:
    try:
        born = date.fromisoformat(value)
    except ValueError:
        raise BadValue("is not an ISO date (YYYY-MM-DD)") from None
    if born.year < 1900 or born > datetime.now(UTC).date():
        raise BadValue("is not a plausible date of birth")
    return born.isoformat()


def _amount(value: str) -> float:
    try:
        return to_cents(value) / 100
    except BadAmount as err:
        raise BadValue(str(err)) from None


def _status(value: str) -> str:
    if value not in ORDER_STATUSES:
        raise BadValue(f"is not an order status ({', '.join(ORDER_STATUSES)})")
    return value


def _timestamp(value: str) -> str:
    try:
        if len(value) == 10:
            date.fromisoformat(value)
        else:
            datetime.fromisoformat(value)
    except ValueError:
        raise BadValue("is not an ISO date or date-time") from None
    return value


VALIDATORS: dict[str, Callable[[str], Any]] = {
    "id": _id, "customer_id": _id, "name": _text(200), "email": _email, "phone": _phone,
    "address": _text(500, multiline=True), "dob": _dob, "item": _text(200), "amount": _amount,
    "status": _status, "created_at": _timestamp,
}
