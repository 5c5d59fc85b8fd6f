"""siloos.bench: the `silo bench` suite (design §14).

Each SiloOS figure is measured beside its bare baseline in one run on this machine, so the
ratios hold on a noisy host: cell start vs a bare start, a membrane call from inside a cell
vs the echo floor from inside a cell, tasks through the router vs plain subprocesses, and
the privacy detector's quality and speed (`siloos.bench.detector`, a colleague's).
`siloos.bench.suite.run_suite` returns the §14 object; `siloos.bench.targets` judges it.
Modules are imported on use: the detector pulls in Faker, which the others do not need.
"""
