"""`silo init` (placeholder until its issue's work lands)."""

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
