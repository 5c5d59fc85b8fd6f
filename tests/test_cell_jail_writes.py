"""Only /tmp is writable in a cell; the agent folder, the SDK and the root are read-only."""

from __future__ import annotations

import textwrap

import pytest
from test_cell_support import run_probe

pytestmark = pytest.mark.jail

WRITE_PROBE = """
    import errno, json
    out = {}
    for path in %r:
        try:
            with open(path, "w") as fh:
                fh.write("x")
            out[path] = "written"
        except OSError as err:
            out[path] = errno.errorcode.get(err.errno, str(err.errno))
    print(json.dumps(out))
"""


@pytest.mark.parametrize("path", ["/agent/main.py", "/agent/new.txt", "/opt/silo/bootstrap.py",
                                  "/opt/silo/evil.py", "/evil", "/etc/ld.so.cache",
                                  "/usr/lib/evil.py", "/run/evil"])
def test_write_outside_tmp_fails(tmp_path, path):
    out = run_probe(tmp_path, WRITE_PROBE % ([path],))
    # ENOENT: the folder does not exist and the read-only root cannot grow it.
    assert out[path] in {"EROFS", "EACCES", "ENOENT"}


def test_write_in_tmp_works(tmp_path):
    out = run_probe(tmp_path, WRITE_PROBE % (["/tmp/scratch.txt"],))
    assert out == {"/tmp/scratch.txt": "written"}


def test_agent_folder_on_host_is_untouched(tmp_path):
    code = """
        import json
        try:
            open("/agent/main.py", "a").write("# tampered")
        except OSError:
            pass
        print(json.dumps({}))
    """
    run_probe(tmp_path, code)
    assert (tmp_path / "agent" / "main.py").read_text() == textwrap.dedent(code)
