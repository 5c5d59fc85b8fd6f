"""siloos.bench: the `silo bench` suite (design §14), and all of SiloOS's benchmark code.

Each SiloOS figure is measured beside its bare baseline in one run on this machine, so the
ratios hold on a noisy host. `suite.run_suite` returns the §14 object; `targets` judges it.

| module | owns |
|---|---|
| `starts` | cell start vs bare start of the same script |
| `cell_calls` | membrane call vs echo floor, both from inside cells |
| `host_calls` | the same pair from this process (for profiling the membrane) |
| `tasks` | trivial tasks through the router vs plain subprocesses |
| `detector` | the privacy detector's quality and speed (imports Faker: loaded on use) |
| `hop` | a real membrane serving one bench hop (keys, vault, store, audit) |
| `echo` | the one canned-reply unix-socket server every baseline talks to |
| `agents/` | the bench agents' stdlib scripts (the timing client) staged into cells |
| `stats`, `errors`, `loop_thread` | the percentile rule, `BenchmarkFailed`, a server loop |

Only this package imports the in-cell SDK on the host (the timing client's `Client`).
"""
