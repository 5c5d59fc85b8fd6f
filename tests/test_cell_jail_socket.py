"""The membrane socket is the cell's one door: reachable at /run/silo/membrane.sock, by this
cell's uid only, whether its host folder is traversable or a private (mkdtemp) folder."""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import tempfile
import threading
from pathlib import Path

import pytest
from test_cell_support import CELL_UID, run_probe

from siloos.cell.staging import staging_root

pytestmark = pytest.mark.jail

CLIENT = """
    import json, os, socket
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(os.environ["SILO_MEMBRANE"])
    s.sendall(b"ping\\n")
    reply = s.makefile("rb").readline().decode().strip()
    print(json.dumps({"path": os.environ["SILO_MEMBRANE"], "reply": reply}))
"""


class LineServer:
    """A host-side unix socket answering one line per connection with 'pong'."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen(4)
        self.sock.settimeout(20)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        with conn:
            if conn.makefile("rb").readline() == b"ping\n":
                conn.sendall(b"pong\n")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes a blocked accept()
        self.sock.close()
        self.thread.join(5)


@pytest.mark.parametrize("place", ["traversable", "private"])
def test_cell_reaches_the_membrane_socket_and_only_it(tmp_path, place):
    if place == "traversable":
        folder = Path(tempfile.mkdtemp(dir=staging_root()))
        os.chmod(folder, 0o711)
    else:
        folder = Path(tempfile.mkdtemp(dir=staging_root()))  # 0700: needs the hard link
    server = LineServer(folder / "m.sock")
    try:
        out = run_probe(tmp_path, CLIENT, socket=folder / "m.sock",
                        env={"SILO_MEMBRANE": "/somewhere/else.sock"})
    finally:
        server.close()
    assert out == {"path": "/run/silo/membrane.sock", "reply": "pong"}
    info = (folder / "m.sock").stat()
    assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (CELL_UID, 0o600)
    for leftover in folder.iterdir():
        leftover.unlink()
    folder.rmdir()


def test_socket_mount_shows_nothing_else_of_its_folder(tmp_path):
    folder = Path(tempfile.mkdtemp(dir=staging_root()))
    os.chmod(folder, 0o711)
    (folder / "state.db").write_text("host state")
    server = LineServer(folder / "m.sock")
    try:
        out = run_probe(tmp_path, """
            import json, os
            print(json.dumps(sorted(os.listdir("/run/silo"))))
        """, socket=folder / "m.sock")
    finally:
        server.close()
        for leftover in folder.iterdir():
            leftover.unlink()
        folder.rmdir()
    assert out == ["membrane.sock"]


def test_no_socket_means_no_membrane_variable(tmp_path):
    out = run_probe(tmp_path, """
        import json, os
        print(json.dumps({"env": "SILO_MEMBRANE" in os.environ,
                          "run": os.path.exists("/run/silo")}))
    """, env={"SILO_MEMBRANE": "/run/silo/membrane.sock"})
    assert out == {"env": False, "run": False}
