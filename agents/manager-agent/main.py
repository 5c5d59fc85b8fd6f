"""Manager agent entry point: thin by design (design §3.3).

Until the SDK's agent loop is available there is no model to reason with, so the agent
says so honestly and hands the task to a person (status 400).
"""

import silo

silo.finish(400, summary={"reason": "no model configured"})
