"""The agent folder: manifest model and loader, lint, pack and scaffold (design §3).

Public names: `load_agent`, `load_procedure`, `Agent`, `Procedure`, `ManifestError`,
`lint_paths`, `Finding`.
"""

from siloos.agent.errors import ManifestError
from siloos.agent.lint import Finding, lint_paths
from siloos.agent.loader import load_agent, load_procedure
from siloos.agent.manifest import Agent, Procedure

__all__ = ["Agent", "Finding", "ManifestError", "Procedure", "lint_paths", "load_agent",
           "load_procedure"]
