"""What a hop may actually do: the base key's caps intersected with the task key's `narrow`.

Owns the rule of design §6: without `narrow` the base caps apply unchanged; with `narrow`
only exits listed in both remain, each under the stricter of the two constraints (by the
exit's own `Constraint.stricter`). A narrow constraint the base key does not set is kept
(it only narrows); a base constraint always stays. Anything that cannot be compared
safely is refused (403) rather than guessed, so a task key can never widen a grant.
"""

from __future__ import annotations

import copy
from typing import Any

from siloos.exits import Registry
from siloos.keys.claims import BaseClaims, TaskClaims
from siloos.keys.policy import FORBIDDEN
from siloos.keys.verify import KeyRejected


def effective_caps(base: BaseClaims, task: TaskClaims, registry: Registry
                   ) -> dict[str, dict[str, Any]]:
    """exit name → granted constraints for this hop (base caps ∩ narrow)."""
    if base.agent != task.agent:
        raise KeyRejected(FORBIDDEN, "base key and task key are for different agents")
    # Deep copies: callers may mutate the result without touching the verified claims.
    if task.narrow is None:
        return {name: copy.deepcopy(dict(c)) for name, c in base.caps.items()}
    out: dict[str, dict[str, Any]] = {}
    for name, narrow_constraints in task.narrow.items():
        if name not in base.caps:
            continue  # narrow can name an exit; only the base key can grant it
        out[name] = _intersect(name, dict(base.caps[name]), dict(narrow_constraints), registry)
    return out


def _intersect(exit_name: str, base: dict[str, Any], narrow: dict[str, Any],
               registry: Registry) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    if not narrow:
        return merged
    spec = registry.get(exit_name)
    for key, narrow_value in narrow.items():
        if key not in base:
            merged[key] = copy.deepcopy(narrow_value)
            continue
        constraint = spec.constraints.get(key) if spec is not None else None
        if constraint is None:
            # No rule to say which value is stricter: only identical values are safe.
            if narrow_value != base[key]:
                raise KeyRejected(FORBIDDEN, f"{exit_name}: cannot narrow constraint {key!r} "
                                             "that the exit does not declare")
            continue
        if not (constraint.value_ok(base[key]) and constraint.value_ok(narrow_value)):
            raise KeyRejected(FORBIDDEN, f"{exit_name}: constraint {key!r} has a value of the "
                                         "wrong type")
        merged[key] = constraint.stricter(base[key], narrow_value)
    return merged
