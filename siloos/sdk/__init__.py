"""Host-side home of what is mounted read-only into every cell at `/opt/silo`.

`silo/` is the in-cell SDK (standard library only) and `bootstrap.py` starts an agent's
`main.py`. Nothing in this folder may import from `siloos`: it runs inside the cell.
"""
