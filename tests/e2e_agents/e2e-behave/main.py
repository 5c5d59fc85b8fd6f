"""Test agent: the task input's `plan` decides how this hop ends.

done → 200 · human → 400 · abort → 500 · escalate → 301 to `human` · crash → an uncaught
exception, no finish · refund → refund 1.00 on the customer's first order, then 200.
"""

import silo

task = silo.task()
plan = task["input"].get("plan", "done")

if plan == "crash":
    raise RuntimeError("e2e-behave crashes on purpose, without finishing")
if plan == "refund":
    orders = silo.call("orders.list", customer=task["input"]["customer"])
    refund = silo.call("refunds.issue", order=orders[0]["order"], amount=1.0,
                       reason="e2e side effect")
    silo.finish(200, summary={"refunded": refund["status"]})
if plan == "escalate":
    silo.finish(301, summary={"why": "a person should look"}, redirect="human")
statuses = {"done": 200, "human": 400, "abort": 500}
silo.finish(statuses[plan], summary={"plan": plan}, output={"seen_plan": plan})
