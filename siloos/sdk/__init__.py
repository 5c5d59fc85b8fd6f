"""Host-side home of what is mounted read-only into every cell at `/opt/silo`.

`silo/` is the in-cell SDK (standard library only) and `bootstrap.py` starts an agent's
`main.py`. Nothing in this folder may import from `siloos`: it runs inside the cell. This
file itself is only imported on the host, to say where the folder is (`SDK_DIR`); it is
copied into cells with the rest but nothing there imports it.
"""

from pathlib import Path

#: The folder staged into every cell as `/opt/silo` (the one place the host computes it).
SDK_DIR = Path(__file__).resolve().parent
