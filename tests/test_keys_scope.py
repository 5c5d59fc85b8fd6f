"""base caps ∩ narrow (design §6): a task key can never add a capability or loosen a limit."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from siloos.exits import Registry, exit
from siloos.keys.claims import BaseClaims, TaskClaims
from siloos.keys.scope import effective_caps
from siloos.keys.verify import KeyRejected


@exit("tickets.create", constraints={"max_priority": ("priority", "<="),
                                     "queues": ("queue", "in"),
                                     "min_notice": ("notice", ">="),
                                     "region": ("region", "==")})
def _tickets(ctx, priority: int, queue: str, notice: int, region: str) -> dict:
    return {}


@exit("refunds.issue", constraints={"max_amount": ("amount", "<="), "orders": ("order", "in")})
def _refunds(ctx, order: str, amount: float, reason: str) -> dict:
    return {}


@exit("orders.get")
def _orders(ctx, order: str) -> dict:
    return {}


REGISTRY = Registry([f.__silo_exit__ for f in (_tickets, _refunds, _orders)])
SPECS = {s.name: s for s in REGISTRY}


def base(caps, agent="a") -> BaseClaims:
    return BaseClaims(jti="j" * 16, sub=f"agent:{agent}@1", agent=agent, version="1",
                      digest="0" * 64, caps=caps, escalate_to=(), limits={}, iat=0, nbf=0,
                      exp=1, kid="k")


def task(narrow, agent="a") -> TaskClaims:
    return TaskClaims(jti="t" * 16, sub="task:t/0", agent=agent, task_id="t", hop=0,
                      customer_token=None, case_token=None, granted_by="router",
                      narrow=narrow, iat=0, nbf=0, exp=1, kid="k")


def test_no_narrow_means_base_caps_unchanged():
    caps = {"refunds.issue": {"max_amount": 500}, "orders.get": {}}
    out = effective_caps(base(caps), task(None), REGISTRY)
    assert out == caps
    out["refunds.issue"]["max_amount"] = 10**9
    assert caps["refunds.issue"]["max_amount"] == 500  # the claims are not aliased


def test_narrow_keeps_only_listed_exits_under_the_stricter_value():
    caps = {"refunds.issue": {"max_amount": 500}, "orders.get": {}}
    narrow = {"refunds.issue": {"max_amount": 750, "orders": ["ord_tk_aaaaaaaaaaaa"]}}
    out = effective_caps(base(caps), task(narrow), REGISTRY)
    assert out == {"refunds.issue": {"max_amount": 500, "orders": ["ord_tk_aaaaaaaaaaaa"]}}


def test_narrow_cannot_add_an_exit():
    out = effective_caps(base({"orders.get": {}}), task({"refunds.issue": {}}), REGISTRY)
    assert out == {}


def test_each_rule_takes_the_stricter():
    caps = {"tickets.create": {"max_priority": 3, "queues": ["a", "b"], "min_notice": 10,
                               "region": "eu"}}
    narrow = {"tickets.create": {"max_priority": 1, "queues": ["b", "c"], "min_notice": 5,
                                 "region": "eu"}}
    out = effective_caps(base(caps), task(narrow), REGISTRY)["tickets.create"]
    assert out == {"max_priority": 1, "queues": ["b"], "min_notice": 10, "region": "eu"}
    narrow["tickets.create"]["region"] = "us"
    out = effective_caps(base(caps), task(narrow), REGISTRY)["tickets.create"]
    spec = SPECS["tickets.create"].constraints["region"]
    assert not spec.allows(out["region"], "eu") and not spec.allows(out["region"], "us")


def test_undeclared_or_mistyped_constraints_fail_closed():
    caps = {"orders.get": {"color": "red"}, "refunds.issue": {"max_amount": 500}}
    with pytest.raises(KeyRejected) as info:
        effective_caps(base(caps), task({"orders.get": {"color": "blue"}}), REGISTRY)
    assert info.value.code == 403
    same = effective_caps(base(caps), task({"orders.get": {"color": "red"}}), REGISTRY)
    assert same == {"orders.get": {"color": "red"}}
    with pytest.raises(KeyRejected):
        effective_caps(base(caps), task({"refunds.issue": {"max_amount": "lots"}}), REGISTRY)


def test_mismatched_agents_refused():
    with pytest.raises(KeyRejected) as info:
        effective_caps(base({}, agent="a"), task(None, agent="b"), REGISTRY)
    assert info.value.code == 403


# -- property: narrowing never widens ---------------------------------------------------

NUM = st.integers(min_value=-1000, max_value=1000) | st.floats(
    min_value=-1000, max_value=1000, allow_nan=False)
WORDS = st.lists(st.sampled_from(["a", "b", "c", "d", "e"]), max_size=5, unique=True)
VALUES = {"max_priority": NUM, "max_amount": NUM, "min_notice": NUM, "queues": WORDS,
          "orders": WORDS, "region": st.sampled_from(["eu", "us"])}
KEYS = {"tickets.create": ["max_priority", "queues", "min_notice", "region"],
        "refunds.issue": ["max_amount", "orders"], "orders.get": []}


@st.composite
def constraints_for(draw, exit_name):
    keys = draw(st.lists(st.sampled_from(KEYS[exit_name]), unique=True)) \
        if KEYS[exit_name] else []
    return {k: draw(VALUES[k]) for k in keys}


@st.composite
def caps_map(draw):
    names = draw(st.lists(st.sampled_from(sorted(KEYS)), unique=True))
    return {n: draw(constraints_for(n)) for n in names}


ACTUALS = st.one_of(NUM, st.sampled_from(["a", "b", "c", "d", "e", "eu", "us", "zz"]))


@settings(max_examples=300, deadline=None)
@given(base_caps=caps_map(), narrow=st.none() | caps_map(),
       actuals=st.lists(ACTUALS, min_size=1, max_size=8))
def test_task_key_never_adds_a_capability_or_loosens_a_limit(base_caps, narrow, actuals):
    out = effective_caps(base(base_caps), task(narrow), REGISTRY)
    assert set(out) <= set(base_caps)
    if narrow is not None:
        assert set(out) <= set(narrow)
    for exit_name, granted in out.items():
        spec = SPECS[exit_name]
        # every base constraint survives, and so does every narrow one
        assert set(base_caps[exit_name]) <= set(granted)
        if narrow is not None:
            assert set(narrow[exit_name]) <= set(granted)
        for key, value in granted.items():
            rule = spec.constraints[key]
            for actual in actuals:
                if rule.allows(value, actual):
                    # whatever the hop may do, the base key allowed too (and narrow did)
                    if key in base_caps[exit_name]:
                        assert rule.allows(base_caps[exit_name][key], actual)
                    if narrow is not None and key in narrow[exit_name]:
                        assert rule.allows(narrow[exit_name][key], actual)
