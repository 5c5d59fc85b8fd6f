"""Review of the hot-path speedups (a37493b..): regressions the fast paths introduced."""

from __future__ import annotations

import pytest

from siloos.privacy.guard import PlaintextGuard

# Nothing a pattern recognizer finds: only the subclass's own policy refuses it.
HOUSE_SECRET = "the vault opens with swordfish"


class _HousePolicyGuard(PlaintextGuard):
    """The guard's policy, then a house rule of its own on every text the store writes
    (it asks the base policy first, so the base has already seen the text)."""

    def store_check(self, text: str) -> None:
        super().store_check(text)
        if "swordfish" in text:
            raise ValueError("house policy")


class _HouseKindsGuard(PlaintextGuard):
    """The guard's policy with one more kind found per piece (the base's answer first)."""

    def _kinds_in(self, piece, memory):  # type: ignore[override]
        found = PlaintextGuard._kinds_in(piece, memory)
        return (*found, "codename") if "swordfish" in piece else found


def test_a_subclass_store_check_still_refuses_a_text_it_refused_before() -> None:
    guard = _HousePolicyGuard()
    assert guard.verify(HOUSE_SECRET).ok  # the base policy finds nothing in it
    hook = guard.store_hook()
    with pytest.raises(ValueError):
        hook(HOUSE_SECRET)
    # The same text again (a retried write): the hook must still ask the guard's
    # `store_check`, not answer from the base policy's memory of clean texts.
    with pytest.raises(ValueError):
        hook(HOUSE_SECRET)


def test_a_subclass_kinds_in_is_asked_for_every_piece_of_a_value() -> None:
    guard = _HouseKindsGuard()
    assert not guard.verify(HOUSE_SECRET).ok
    value = {"note": HOUSE_SECRET}
    assert not guard.value_clean(value)
    # The piece is now remembered (by the base's answer); the subclass must still decide.
    assert not guard.value_clean(value)
    hook = guard.store_hook()
    for _ in range(2):
        with pytest.raises(Exception, match="codename"):
            hook.check_json(value, '{"note":"' + HOUSE_SECRET + '"}')
