"""Refund agent entry point: thin by design (design §3.3).

The SDK's default agent loop does the work: it reads this folder (AGENT.md, policies,
procedures, examples, templates) into the system prompt, talks to the model through the
membrane and acts only through the capabilities AGENT.md declares.
"""

import silo

silo.run_agent()
