"""The `silo` command line: one typer app, one module per command group (design §10).

Every expected failure is a `SiloError`: printed as one line on stderr with its exit code.
Anything else is a bug: one line too, with the traceback only under `--debug`.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback

import typer

from siloos.errors import SiloError

COMMAND_MODULES = (
    "init", "new", "lint", "pack", "keys", "doctor", "run", "tasks", "data", "bench", "demo",
)

app = typer.Typer(
    name="silo",
    help="SiloOS: run AI agents nobody trusts, in cells, behind a membrane.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_debug = False


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors."),
) -> None:
    global _debug
    _debug = debug or bool(os.environ.get("SILO_DEBUG"))


for _name in COMMAND_MODULES:
    importlib.import_module(f"siloos.cli.{_name}").register(app)


def _is_click_usage_error(err: BaseException) -> bool:
    # typer >= 0.2x vendors click; older releases use the click package. Both raise a
    # ClickException with `show()` and `exit_code` for usage errors (exit 2).
    return type(err).__name__ in {"UsageError", "BadParameter", "MissingParameter",
                                  "NoSuchOption", "BadOptionUsage", "BadArgumentUsage",
                                  "ClickException", "FileError", "NoArgsIsHelpError"} \
        and hasattr(err, "show") and hasattr(err, "exit_code")


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    try:
        rc = app(args=argv, standalone_mode=False)
    except SiloError as err:
        if _debug:
            traceback.print_exc()
        print(f"silo: error: {err}", file=sys.stderr)
        sys.exit(err.exit_code)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except typer.Abort:
        print("silo: aborted", file=sys.stderr)
        sys.exit(130)
    except KeyboardInterrupt:
        print("silo: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as err:
        if _is_click_usage_error(err):
            err.show()
            sys.exit(err.exit_code)
        if _debug or "--debug" in (argv or sys.argv):
            traceback.print_exc()
        print(f"silo: internal error: {type(err).__name__}: {err} (rerun with --debug)",
              file=sys.stderr)
        sys.exit(70)
    # In non-standalone mode click returns the code of a `typer.Exit` instead of raising.
    sys.exit(rc if isinstance(rc, int) else 0)
