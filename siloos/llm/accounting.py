"""Per-task LLM budgets: `llm_calls` and `llm_tokens` from the manifest (design §3.1, §12).

A pure module: the membrane keeps the usage (per task and hop) and asks this one question
before each model call and after each reply. Spent means the membrane answers 429.
"""

from __future__ import annotations

from dataclasses import dataclass


class BudgetExhausted(Exception):
    """A budget is spent; `limit` names it (`llm_calls` or `llm_tokens`), the membrane sends 429."""

    def __init__(self, limit: str, used: int, allowed: int) -> None:
        super().__init__(f"{limit} budget exhausted: {used} used of {allowed}")
        self.limit = limit
        self.used = used
        self.allowed = allowed


@dataclass(frozen=True)
class LLMUsage:
    """What a task has spent on the model so far."""

    calls: int = 0
    tokens: int = 0

    def add(self, tokens: int) -> LLMUsage:
        """The usage after one more call that cost `tokens`."""
        if tokens < 0:
            raise ValueError("tokens must be non-negative")
        return LLMUsage(calls=self.calls + 1, tokens=self.tokens + tokens)


@dataclass(frozen=True)
class LLMBudget:
    """The limits; `check_before` guards a new call, `check_after` the reply's cost."""

    llm_calls: int
    llm_tokens: int

    def __post_init__(self) -> None:
        for name in ("llm_calls", "llm_tokens"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                # A zero or negative budget is a configuration mistake, not "unlimited".
                raise ValueError(f"{name} must be a positive integer")

    @classmethod
    def from_limits(cls, limits: dict[str, int]) -> LLMBudget:
        """From a manifest's (or workspace default's) `limits` mapping."""
        return cls(llm_calls=limits["llm_calls"], llm_tokens=limits["llm_tokens"])

    def check_before(self, usage: LLMUsage) -> None:
        """Raise BudgetExhausted when one more call is not allowed."""
        if usage.calls >= self.llm_calls:
            raise BudgetExhausted("llm_calls", usage.calls, self.llm_calls)
        if usage.tokens >= self.llm_tokens:
            raise BudgetExhausted("llm_tokens", usage.tokens, self.llm_tokens)

    def check_after(self, usage: LLMUsage) -> None:
        """Raise BudgetExhausted when the reply just counted took tokens over the limit.

        The reply that crosses the line has already been paid for; the membrane records it
        and refuses to pass on further calls (check_before) — whether to still deliver the
        crossing reply is the membrane's policy; this only reports the fact.
        """
        if usage.tokens > self.llm_tokens:
            raise BudgetExhausted("llm_tokens", usage.tokens, self.llm_tokens)

    def remaining(self, usage: LLMUsage) -> LLMUsage:
        """Calls and tokens still allowed (never negative)."""
        return LLMUsage(calls=max(0, self.llm_calls - usage.calls),
                        tokens=max(0, self.llm_tokens - usage.tokens))
