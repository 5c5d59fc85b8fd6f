"""Test agent: hand off to an agent that does not exist."""

import silo

silo.task()
silo.finish(301, summary={"to": "nobody"}, redirect="e2e-phantom")
