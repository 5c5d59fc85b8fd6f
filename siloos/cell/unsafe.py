"""`UnsafeNoJail`: runs the cell's command as a plain subprocess. For SiloOS developers only.

It isolates nothing: the agent runs as the caller's user with the host's files and network.
It exists so SDK and membrane work can be debugged on a machine without nsjail. It prints
a loud warning on stderr on every run, is only ever chosen by an explicit
`--unsafe-no-jail`, and is never a default or a fallback (`siloos.cell.get_backend`).
What it does keep: the same bootstrap and command line, only the spec's `SILO_*`
environment, the wall-time kill and the output caps.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time

from siloos.cell.backend import CheckResult, JailBackend
from siloos.cell.output import read_capped
from siloos.cell.spec import INTERPRETER_FLAGS, CellResult, CellSpec

WARNING = ("silo: WARNING: --unsafe-no-jail: this agent runs WITHOUT a sandbox, as your "
           "user, with your files and network. Never use it for untrusted agents.")


class UnsafeNoJail(JailBackend):
    """The same command, no jail. Warns on every use."""

    name = "unsafe-no-jail"
    isolates = False

    def preflight(self) -> list[CheckResult]:
        return [CheckResult.failed("isolation", "unsafe-no-jail isolates nothing",
                                   "drop --unsafe-no-jail and run `silo doctor`")]

    async def run(self, spec: CellSpec) -> CellResult:
        print(WARNING, file=sys.stderr, flush=True)
        limits = spec.cell_limits
        with tempfile.TemporaryDirectory(prefix="silo-unsafe-") as scratch:
            env = dict(spec.env)
            env["SILO_TEMP"] = scratch
            if spec.membrane_socket is not None:
                env["SILO_MEMBRANE"] = str(spec.membrane_socket)
            else:
                env.pop("SILO_MEMBRANE", None)
            bootstrap = str(spec.sdk_dir / "bootstrap.py")
            started = time.monotonic()
            proc = await asyncio.create_subprocess_exec(
                spec.interpreter, *INTERPRETER_FLAGS, bootstrap, str(spec.agent_dir),
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                cwd=scratch, env=env, start_new_session=True)
            readers = asyncio.gather(read_capped(proc.stdout, spec.output_cap_bytes),
                                     read_capped(proc.stderr, spec.output_cap_bytes))
            timed_out = False
            try:
                await asyncio.wait_for(proc.wait(), limits.wall_seconds)
            except TimeoutError:
                timed_out = True
            finally:
                if proc.returncode is None:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    await proc.wait()
            stdout, stderr = await readers
        wall_ms = int((time.monotonic() - started) * 1000)
        code = proc.returncode if proc.returncode is not None else -1
        if timed_out:
            return CellResult(code, "timeout", stdout, stderr, wall_ms)
        if code < 0:
            return CellResult(128 - code, "killed", stdout, stderr, wall_ms)
        return CellResult(code, "exited", stdout, stderr, wall_ms)
