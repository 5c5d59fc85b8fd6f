"""The loader raises only ManifestError on any input, and lint never crashes on it."""

from __future__ import annotations

import string
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from siloos.agent import Agent, ManifestError, load_agent, load_procedure
from siloos.agent.lint import lint_paths

FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])

KEYS = ["name", "description", "version", "model", "capabilities", "escalate_to", "limits",
        "llm", "orders.get", "refunds.issue", "email.send", "max_amount", "templates",
        "wall_seconds", "memory_mb", "human", "x"]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=10**30),
    st.floats(allow_nan=True), st.text(max_size=30),
    st.sampled_from(["1.0.0", "refund-agent", "human", "500", "-1", "0"]),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=8)), children,
                        max_size=5)),
    max_leaves=25,
)
manifests = st.dictionaries(st.sampled_from(KEYS), values, max_size=8)


def _agent_dir(tmp_path: Path) -> Path:
    agent = tmp_path / "agents" / "fuzz-agent"
    (agent / "procedures").mkdir(parents=True, exist_ok=True)
    (agent / "main.py").write_text("import silo\n", encoding="utf-8")
    return agent


def _only_manifest_error(agent: Path) -> None:
    try:
        result = load_agent(agent)
    except ManifestError as err:
        assert err.path is not None
        assert "Traceback" not in str(err)
        return
    assert isinstance(result, Agent)


@FUZZ
@given(raw=st.binary(max_size=400))
def test_arbitrary_bytes_raise_only_manifest_error(tmp_path: Path, raw: bytes) -> None:
    agent = _agent_dir(tmp_path)
    (agent / "AGENT.md").write_bytes(raw)
    _only_manifest_error(agent)


@FUZZ
@given(text=st.text(max_size=300))
def test_arbitrary_frontmatter_text_raises_only_manifest_error(tmp_path: Path,
                                                                 text: str) -> None:
    agent = _agent_dir(tmp_path)
    (agent / "AGENT.md").write_text(f"---\n{text}\n---\nbody\n", encoding="utf-8")
    _only_manifest_error(agent)
    lint_paths([agent.parent], strict=True)


@FUZZ
@given(data=manifests)
def test_structured_manifests_raise_only_manifest_error(tmp_path: Path, data: dict) -> None:
    agent = _agent_dir(tmp_path)
    head = yaml.safe_dump(data, allow_unicode=True)
    (agent / "AGENT.md").write_text(f"---\n{head}---\n# Purpose\n", encoding="utf-8")
    _only_manifest_error(agent)
    for finding in lint_paths([agent.parent], strict=False):
        assert finding.line >= 1


@FUZZ
@given(data=st.dictionaries(st.sampled_from(["name", "description", "uses", "when", "z"]),
                            values, max_size=5),
       body=st.text(alphabet=string.printable, max_size=80))
def test_procedures_raise_only_manifest_error(tmp_path: Path, data: dict, body: str) -> None:
    path = tmp_path / "proc.md"
    path.write_text(f"---\n{yaml.safe_dump(data)}---\n{body}\n", encoding="utf-8")
    try:
        load_procedure(path)
    except ManifestError as err:
        assert err.path == path
