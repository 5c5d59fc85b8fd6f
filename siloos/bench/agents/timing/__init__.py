"""The timing client's folder; `main.py` is staged into bench cells (see its docstring)."""
