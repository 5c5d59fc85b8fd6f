"""Errors of the demo back office.

Messages never name the real id that was looked up: the membrane may audit them into
state.db, which must hold no personal data, and real customer and order ids are personal
data (design §7).
"""

from __future__ import annotations


class BackOfficeError(Exception):
    """Base of the back office's own failures."""


class NotFound(BackOfficeError):
    """No customer or order with the id asked for."""


class Refused(BackOfficeError):
    """The back office declines an operation by its own business rules (a refund over the
    order total, a reused idempotency key, a recipient that is not an address...).

    The message says why, and names no real id, so a caller may pass it on.
    """
