"""The bench's own agents: stdlib scripts staged as a bench agent's `main.py` in a cell.

They are files, not strings, so they read (and lint) like any agent code; they import
nothing from `siloos`, only the standard library and, in a cell, the SDK's `silo`.
"""

from pathlib import Path

#: The one name every bench agent runs under (its folder, manifest name and cell uid).
BENCH_AGENT = "bench-agent"
#: The membrane round-trip timing client (`timing/main.py`).
TIMING_MAIN = Path(__file__).resolve().parent / "timing" / "main.py"
