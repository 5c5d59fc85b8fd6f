"""LLM budgets (llm_calls, llm_tokens) as a pure policy."""

from __future__ import annotations

import pytest

from siloos.llm.accounting import BudgetExhausted, LLMBudget, LLMUsage
from siloos.workspace import DEFAULT_LIMITS


def test_calls_budget():
    budget = LLMBudget(llm_calls=2, llm_tokens=1000)
    usage = LLMUsage()
    budget.check_before(usage)
    usage = usage.add(10)
    budget.check_before(usage)
    usage = usage.add(10)
    with pytest.raises(BudgetExhausted) as info:
        budget.check_before(usage)
    assert info.value.limit == "llm_calls"
    assert str(info.value) == "llm_calls budget exhausted: 2 used of 2"


def test_tokens_budget_before_and_after():
    budget = LLMBudget(llm_calls=10, llm_tokens=100)
    usage = LLMUsage().add(100)
    budget.check_after(usage)  # exactly at the limit is still within it
    with pytest.raises(BudgetExhausted, match="llm_tokens"):
        budget.check_before(usage)
    over = usage.add(1)
    with pytest.raises(BudgetExhausted) as info:
        budget.check_after(over)
    assert (info.value.used, info.value.allowed) == (101, 100)
    assert budget.remaining(over) == LLMUsage(calls=8, tokens=0)


def test_from_limits_and_bad_values():
    budget = LLMBudget.from_limits(DEFAULT_LIMITS)
    assert (budget.llm_calls, budget.llm_tokens) == (DEFAULT_LIMITS["llm_calls"],
                                                     DEFAULT_LIMITS["llm_tokens"])
    for bad in (0, -1, True, 1.5):
        with pytest.raises(ValueError):
            LLMBudget(llm_calls=bad, llm_tokens=10)
    with pytest.raises(ValueError):
        LLMUsage().add(-1)
