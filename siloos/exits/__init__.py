"""Exits: the pre-blessed host-side operations a cell may ask the membrane to perform.

Public surface (design §11.1): `from siloos.exits import exit`, plus `ExitSpec`,
`ExitContext`, `ExitServices` and `Registry` for the layers that read exits, and the two
errors an exit declines a call with, `ExitRefused` and `NotInScope`.
"""

from siloos.exits.errors import ExitRefused, NotInScope
from siloos.exits.registry import Registry
from siloos.exits.spec import (
    Constraint,
    ExitContext,
    ExitDefinitionError,
    ExitServices,
    ExitSpec,
    Param,
    exit,
    idempotency_key,
)

__all__ = ["Constraint", "ExitContext", "ExitDefinitionError", "ExitRefused", "ExitServices",
           "ExitSpec", "NotInScope", "Param", "Registry", "exit", "idempotency_key"]
