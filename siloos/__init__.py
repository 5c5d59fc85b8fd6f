"""SiloOS: run AI agents nobody trusts.

Each agent run is an nsjail *cell* whose only door is the *membrane*, a host-side proxy that
checks two signed keys on every request and shows the agent tokens instead of personal data.
"""

__version__ = "0.1.0"
