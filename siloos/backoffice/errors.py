"""Errors of the demo back office.

Messages never name the real id that was looked up: the membrane may audit them into
state.db, which must hold no personal data, and real customer and order ids are personal
data (design §7).
"""

from __future__ import annotations


class BackOfficeError(Exception):
    """Base of the back office's own failures."""


class NotFound(BackOfficeError):
    """No customer or order with the id asked for (the membrane reports "not in scope")."""
