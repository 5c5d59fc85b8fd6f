"""The first code a cell runs: put the SDK and the agent on sys.path, run /agent/main.py.

Standard library only, and tiny, because it runs inside the cell under `python -I -B`.
The SDK folder is this file's own folder (`/opt/silo` in a cell); the agent folder is
`/agent`, or the one path given as the only argument (the unsafe developer backend, which
has no mount namespace to put it at /agent). An uncaught exception in the agent prints its
traceback on stderr and exits 1; `SystemExit` keeps its code.
"""

import os
import runpy
import sys
import traceback

DEFAULT_AGENT_DIR = "/agent"


def main() -> int:
    """Run the agent's main.py as __main__ and return the process exit code."""
    sdk_dir = os.path.dirname(os.path.abspath(__file__))
    agent_dir = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_AGENT_DIR
    main_py = os.path.join(agent_dir, "main.py")
    # The SDK first so an agent file cannot shadow `silo`; then the agent's own modules.
    sys.path[:0] = [sdk_dir, agent_dir]
    sys.argv = [main_py]
    try:
        runpy.run_path(main_py, run_name="__main__")
    except SystemExit:
        raise
    except BaseException:  # the agent's failure, reported like Python would, exit 1
        traceback.print_exc()
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
