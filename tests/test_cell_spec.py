"""CellSpec refuses what would weaken a cell; uids per agent are stable, in range, never 0."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from siloos.cell.spec import CellLimits, CellSpec, uid_for_agent
from siloos.errors import UsageError

LIMITS = {"wall_seconds": 5, "memory_mb": 64, "pids": 16, "tmp_mb": 4}


def spec(**overrides):
    values = {"agent_dir": Path("/x/agent"), "interpreter": "/usr/bin/python3", "uid": 200_001,
              "limits": dict(LIMITS), "sdk_dir": Path("/x/sdk")}
    values.update(overrides)
    return CellSpec(**values)


@pytest.mark.parametrize("name", ["ANTHROPIC_API_KEY", "PATH", "LD_PRELOAD", "PYTHONPATH",
                                  "silo_task_id", "SILO_", "SILO_A=B", "XSILO_TASK_ID"])
def test_only_silo_environment_names_are_accepted(name):
    with pytest.raises(UsageError, match="only SILO_"):
        spec(env={name: "x"})


def test_silo_environment_is_accepted():
    s = spec(env={"SILO_BASE_KEY": "a.b.c", "SILO_TASK_ID": "task_1"})
    assert s.env["SILO_TASK_ID"] == "task_1"


def test_nul_in_an_environment_value_is_refused():
    with pytest.raises(UsageError, match="NUL"):
        spec(env={"SILO_TASK_ID": "a\0b"})


@pytest.mark.parametrize("uid", [0, -1, True])
def test_uid_zero_or_invalid_is_refused(uid):
    with pytest.raises(UsageError, match="uid"):
        spec(uid=uid)


@pytest.mark.parametrize("limits", [
    {"wall_seconds": 5, "memory_mb": 64, "pids": 16},                      # missing tmp_mb
    {**LIMITS, "wall_seconds": 0},
    {**LIMITS, "memory_mb": -1},
    {**LIMITS, "pids": "16"},
    {**LIMITS, "tmp_mb": True},
    {**LIMITS, "disk_gb": 1},                                              # unknown
])
def test_bad_limits_are_refused(limits):
    with pytest.raises(UsageError, match="cell limits"):
        spec(limits=limits)


def test_relative_interpreter_is_refused():
    with pytest.raises(UsageError, match="absolute"):
        spec(interpreter="python3")


def test_derived_limits():
    limits = CellLimits.from_dict({**LIMITS, "tool_calls": 50, "llm_calls": 3, "llm_tokens": 9})
    assert (limits.fsize_mb, limits.nofile, limits.cpu_seconds, limits.nproc) == (4, 64, 5, 64)
    assert limits.as_mb >= limits.memory_mb
    override = CellLimits.from_dict({**LIMITS, "fsize_mb": 1, "nofile": 32})
    assert (override.fsize_mb, override.nofile) == (1, 32)


def test_uid_for_agent_is_stable_and_distinct():
    assert uid_for_agent("refund-agent", 200_000, 10_000) == \
        uid_for_agent("refund-agent", 200_000, 10_000)
    assert uid_for_agent("refund-agent", 200_000, 10_000) != \
        uid_for_agent("manager-agent", 200_000, 10_000)


@given(st.text(min_size=1, max_size=64), st.integers(1, 2**31 - 2**20), st.integers(1, 2**20))
def test_uid_for_agent_stays_in_range_and_is_never_zero(name, base, count):
    uid = uid_for_agent(name, base, count)
    assert base <= uid < base + count
    assert uid != 0


@pytest.mark.parametrize("base,count", [(0, 10), (-5, 10), (100, 0)])
def test_uid_range_must_be_positive(base, count):
    with pytest.raises(UsageError):
        uid_for_agent("a", base, count)
