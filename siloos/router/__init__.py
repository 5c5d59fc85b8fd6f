"""siloos.router: the deterministic kernel that drives a task from intake to its end.

No AI in it. `intake` tokenizes a new task before anything is stored; `run` drives the
hops (200 done, 301 hand off, 302 consult and return, 400 human, 500 abort) with the
redirect cap; `hop` owns everything that lives only while one cell runs (the hop's base
and task keys, the membrane socket, the cell); `runtime` opens the host-side handles once.
Later work (workflows, the queue behind `silo submit`/`silo serve`, the human console)
plugs in above `run_hop`, which already takes everything a hop needs as one request.
"""
