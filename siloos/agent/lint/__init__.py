"""`silo lint`: rules with stable ids over agents, procedures, markdown, code and workflows.

Ids: SILO1xx manifest, 2xx procedures, 3xx markdown and links, 4xx code, 5xx personal
data in markdown, 6xx workflows. `docs/lint.md` lists them all.
"""

from siloos.agent.lint.base import ERROR, WARNING, Finding, Rule
from siloos.agent.lint.engine import RULES, lint_paths, rule_by_id

__all__ = ["ERROR", "RULES", "WARNING", "Finding", "Rule", "lint_paths", "rule_by_id"]
