"""Model providers behind one interface, chosen by a provider spec (design §12).

Specs: ``anthropic`` (the real Messages API; key from the host environment) and
``scripted:FILE`` (canned replies; FILE relative to the workspace root, else the current
directory). The spec comes from ``silo run --llm`` or from ``[llm] provider`` in silo.toml.
"""

from __future__ import annotations

from pathlib import Path

from siloos.errors import InputError, UsageError
from siloos.llm.base import LLMError, LLMProvider, check_reply
from siloos.llm.log import LLMLog
from siloos.workspace import Workspace, WorkspaceConfig

__all__ = ["LLMError", "LLMLog", "LLMProvider", "check_reply", "get_provider"]

PROVIDER_KINDS = ("anthropic", "scripted:FILE")


def get_provider(spec: str | None, workspace_config: WorkspaceConfig | Workspace | None = None,
                 *, root: Path | str | None = None) -> LLMProvider | None:
    """The provider a spec names, or None when neither the spec nor silo.toml names one.

    `workspace_config` may be the Workspace itself, which also gives the root that a
    relative scripted FILE is looked up in first.
    """
    config = workspace_config
    if isinstance(workspace_config, Workspace):
        config = workspace_config.config
        root = root if root is not None else workspace_config.root
    assert config is None or isinstance(config, WorkspaceConfig)
    if spec is None and config is not None:
        spec = config.llm.provider
    if spec is None or not spec.strip():
        return None
    spec = spec.strip()
    default_model = config.llm.model if config is not None else None
    if spec == "anthropic":
        from siloos.llm.anthropic_provider import DEFAULT_MODEL, AnthropicProvider

        return AnthropicProvider(default_model=default_model or DEFAULT_MODEL)
    if spec.startswith("scripted:"):
        from siloos.llm.scripted import ScriptedProvider

        return ScriptedProvider(_script_path(spec[len("scripted:"):], root))
    raise UsageError(f"unknown LLM provider {spec!r}; use one of: {', '.join(PROVIDER_KINDS)}")


def _script_path(name: str, root: Path | str | None) -> Path:
    if not name.strip():
        raise UsageError("scripted provider needs a file: scripted:FILE")
    path = Path(name)
    if path.is_absolute():
        candidates = [path]
    else:
        candidates = ([Path(root) / path] if root is not None else []) + [Path.cwd() / path]
    for candidate in candidates:
        # A folder is a script too: every script file in it, in name order.
        if candidate.is_file() or candidate.is_dir():
            return candidate
    raise InputError("scripted replies file not found", path=candidates[0])
