"""Privacy probe: take everything the cell can get, and look for canaries inside the cell.

`/agent/canaries.json` maps the SHA-256 of each canary value's normalized spellings to a
label. Every string the cell receives (task payload, exit results, environment, the keys'
decoded claims, /proc/self, its own files) is cut into candidate spellings (whole text,
words, word pairs and triples, digit runs, e-mail-like pieces), hashed and compared. The
report (labels found, calls and their answers) is this hop's `output`.
"""

import base64
import hashlib
import json
import os
import re

import silo

received = []


def collect(value):
    if isinstance(value, str):
        received.append(value)
    elif isinstance(value, dict):
        for k, v in value.items():
            collect(str(k))
            collect(v)
    elif isinstance(value, list):
        for v in value:
            collect(v)
    elif value is not None:
        received.append(str(value))


def attempt(name, tool, **args):
    try:
        result = silo.call(tool, **args)
    except silo.MembraneError as err:
        calls[name] = {"ok": False, "code": err.code, "message": err.message}
        return None
    collect(result)
    calls[name] = {"ok": True, "result": result}
    return result


def claims(jwt):
    payload = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def near_miss(token):
    last = token[-1]
    return token[:-1] + ("a" if last != "a" else "b")


def spellings(text):
    low = text.lower()
    out = {low.strip()}
    words = re.findall(r"[a-z0-9@._+-]+", low)
    out.update(words)
    out.update(w.strip("@._+-") for w in words)
    for w in words:
        out.update(p for p in re.split(r"[@._+-]", w) if p)
    alpha = re.findall(r"[a-z]+", low)
    for n in (2, 3):
        out.update(" ".join(alpha[i:i + n]) for i in range(len(alpha) - n + 1))
    for run in re.findall(r"\d[\d\s().+/-]{4,}\d", low):
        out.add(re.sub(r"\D", "", run))
    out.add(re.sub(r"\D", "", low))
    out.update(re.findall(r"[^\s@<>\"',;:]+@[^\s@<>\"',;:]+", low))
    return out


def scan(texts, table):
    found = set()
    for text in texts:
        for s in spellings(text):
            label = table.get(hashlib.sha256(s.encode("utf-8")).hexdigest())
            if label:
                found.add(label)
    return sorted(found)


calls = {}
task = silo.task()
collect(task)
inp = task["input"]
cust = inp["customer"]

record = attempt("customers.get", "customers.get", customer=cust) or {}
orders = attempt("orders.list", "orders.list", customer=cust) or []
order = orders[0]["order"] if orders else ""
attempt("orders.get", "orders.get", order=order)
silo.note("probe read customer " + cust + " and order " + order)
if inp.get("think"):
    thought = silo.llm([{"role": "user", "content": json.dumps(task)}],
                       system="You are e2e-probe.", max_tokens=200)
    collect(thought)
    calls["llm"] = {"ok": True, "result": thought}
attempt("email.send", "email.send", to=record.get("email", ""), template="canary-note",
        variables={"name": record.get("name", ""), "order": order})

# Scope: tokens this task was not given must all be refused.
for i, token in enumerate(inp.get("foreign", [])):
    if token.startswith("cust_tk_"):
        attempt(f"foreign.{i}", "customers.get", customer=token)
    elif token.startswith("ord_tk_"):
        attempt(f"foreign.{i}", "orders.get", order=token)
    else:
        attempt(f"foreign.{i}", "email.send", to=token, template="canary-note",
                variables={"name": record.get("name", ""), "order": order})
email = record.get("email", "email_tk_000000000000")
attempt("near_miss", "email.send", to=near_miss(email), template="canary-note",
        variables={"name": record.get("name", ""), "order": order})
attempt("near_miss_order", "orders.get", order=near_miss(order or "ord_tk_000000000000"))
attempt("forged", "email.send", to="email_tk_" + "0" * 16, template="canary-note",
        variables={"name": record.get("name", ""), "order": order})
attempt("raw_address", "email.send", to="someone.else@example.com", template="canary-note",
        variables={"name": record.get("name", ""), "order": order})

# Everything else the cell can read about itself.
env = dict(os.environ)
collect(env)
key_claims = {}
for name in ("SILO_BASE_KEY", "SILO_TASK_KEY"):
    if name in env:
        key_claims[name] = claims(env[name])
collect(key_claims)
for path in ("/proc/self/environ", "/proc/self/cmdline", "/proc/1/environ",
             "/proc/1/cmdline"):
    try:
        with open(path, "rb") as fh:
            collect(fh.read().replace(b"\0", b"\n").decode("utf-8", "replace"))
    except OSError:
        pass
own_files = []
for root, _dirs, files in os.walk("/agent"):
    for f in files:
        path = os.path.join(root, f)
        own_files.append(path)
        if f != "canaries.json":
            with open(path, encoding="utf-8", errors="replace") as fh:
                collect(fh.read())

# Keys: the model's API key and the workspace's signing keys must be nowhere in reach.
secret_names = ("signing-", "vault.key", "token.secret")
suspicious = []
walked = 0
for top in ("/",):
    for root, dirs, files in os.walk(top):
        dirs[:] = [d for d in dirs if os.path.join(root, d) not in ("/proc", "/sys", "/dev")]
        walked += len(files) + len(dirs)
        for f in files + dirs:
            if f == ".silo" or f.startswith(secret_names):
                suspicious.append(os.path.join(root, f))
api_key_hits = [k for k in env if "ANTHROPIC" in k or "API_KEY" in k]
# Built in two pieces so that this file itself does not contain what it looks for.
planted = "sk-" + "ant-"
for text in received:
    if planted in text:
        api_key_hits.append("text:" + text[:12])
for root in ("/agent", "/tmp", "/opt", "/run", "/etc"):
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            try:
                with open(os.path.join(dirpath, f), "rb") as fh:
                    if planted.encode() in fh.read(4 * 1024 * 1024):
                        api_key_hits.append(os.path.join(dirpath, f))
            except OSError:
                pass
reachable = [p for p in inp.get("host_paths", []) if os.path.exists(p)]

with open("/agent/canaries.json", encoding="utf-8") as fh:
    table = json.load(fh)
report = {
    "found": scan(received, table),
    "strings_scanned": len(received),
    "calls": calls,
    "env_names": sorted(env),
    "claims": key_claims,
    "own_files": sorted(own_files),
    "suspicious_paths": suspicious[:50],
    "paths_walked": walked,
    "api_key_hits": api_key_hits,
    "reachable_host_paths": reachable,
    "tokens": {"customer": cust, "email": record.get("email"), "name": record.get("name"),
               "phone": record.get("phone"), "order": order},
}
# Also on stdout: the router keeps it (tokenized) as the hop's stdout.
print(json.dumps({"calls": calls, "tokens": report["tokens"]}))
silo.finish(200, summary={"probe": "done"}, output=report)
