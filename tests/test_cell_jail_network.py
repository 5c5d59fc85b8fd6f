"""A cell has no network: not the host's loopback, not the outside, not DNS."""

from __future__ import annotations

import socket
import uuid

import pytest
from test_cell_support import run_probe

pytestmark = pytest.mark.jail


def test_host_loopback_listener_is_unreachable(tmp_path):
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.setblocking(False)
    port = listener.getsockname()[1]
    try:
        out = run_probe(tmp_path, f"""
            import json, socket
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(2)
            try:
                s.connect(("127.0.0.1", {port}))
                print(json.dumps({{"connected": True}}))
            except OSError as err:
                print(json.dumps({{"connected": False, "error": type(err).__name__}}))
        """)
        assert out["connected"] is False
        with pytest.raises(BlockingIOError):
            listener.accept()  # nothing ever reached the host's listener
    finally:
        listener.close()


def test_outside_address_is_unreachable(tmp_path):
    out = run_probe(tmp_path, """
        import errno, json, socket
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(2)
        try:
            s.connect(("1.1.1.1", 443))
            print(json.dumps({"errno": 0}))
        except OSError as err:
            print(json.dumps({"errno": err.errno, "name": errno.errorcode.get(err.errno, "")}))
    """)
    assert out["name"] == "ENETUNREACH"


def test_dns_resolution_fails(tmp_path):
    out = run_probe(tmp_path, """
        import json, socket
        try:
            socket.getaddrinfo("pypi.org", 443)
            print(json.dumps({"resolved": True}))
        except OSError as err:
            print(json.dumps({"resolved": False, "error": type(err).__name__}))
    """)
    assert out == {"resolved": False, "error": "gaierror"}


def test_only_loopback_interface_exists(tmp_path):
    out = run_probe(tmp_path, """
        import json, socket
        print(json.dumps([name for _, name in socket.if_nameindex()]))
    """)
    assert out == ["lo"]


def test_host_abstract_unix_socket_is_unreachable(tmp_path):
    # Abstract unix sockets belong to the network namespace: a host one must not be visible.
    name = f"silo-test-{uuid.uuid4().hex}"
    host = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    host.bind("\0" + name)
    host.listen(1)
    try:
        out = run_probe(tmp_path, f"""
            import json, socket
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect("\\0{name}")
                print(json.dumps({{"connected": True}}))
            except OSError as err:
                print(json.dumps({{"connected": False, "error": type(err).__name__}}))
        """)
        assert out == {"connected": False, "error": "ConnectionRefusedError"}
    finally:
        host.close()
