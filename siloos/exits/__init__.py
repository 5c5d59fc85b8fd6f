"""Exits: the pre-blessed host-side operations a cell may ask the membrane to perform.

Public surface (design §11.1): `from siloos.exits import exit`, plus `ExitSpec`,
`ExitContext` and `Registry` for the layers that read exits.
"""

from siloos.exits.registry import Registry
from siloos.exits.spec import Constraint, ExitContext, ExitDefinitionError, ExitSpec, Param, exit

__all__ = ["Constraint", "ExitContext", "ExitDefinitionError", "ExitSpec", "Param", "Registry",
           "exit"]
