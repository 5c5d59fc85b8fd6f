"""Test agent pair (e2e-relay and e2e-helper share this file): hand-offs and consults.

The task input's `plan` says what to do:
- handoff: the relay hands off (301) to the helper, which finishes 200 reporting what it saw.
- consult: the relay consults (302) the helper, which answers 200; the relay's second hop
  finishes 200 reporting the history it was given.
- loop: each hands off (301) to the other, forever; the router must stop it.
Each hop reports what it was given (its task payload and its task key's claims) in `output`.
"""

import base64
import json
import os

import silo


def claims(name):
    payload = os.environ[name].split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


task = silo.task()
me = task["agent"]
other = "e2e-helper" if me == "e2e-relay" else "e2e-relay"
plan = task["input"]["plan"]
seen = {"input": task["input"], "history": task["history"], "claims": claims("SILO_TASK_KEY")}
# Printed and fetched but never passed on: history must hold the finish, not the transcript.
print("TRANSCRIPT-MARKER", me)
silo.call("customers.get", customer=task["input"]["customer"])

if plan == "loop":
    silo.finish(301, summary={"from": me}, output={"seen": seen}, redirect=other)
if me == "e2e-relay" and not task["history"]:
    status = 301 if plan == "handoff" else 302
    silo.finish(status, summary={"asked": "is this refund eligible?"},
                output={"seen": seen, "relay_note": "first hop"}, redirect=other)
if me == "e2e-helper":
    silo.finish(200, summary={"answer": "eligible: delivered 3 days ago"}, output={"seen": seen})
silo.finish(200, summary={"done_after": len(task["history"])}, output={"seen": seen})
