"""Forbidden syscalls, made directly through ctypes inside a real cell, answer EPERM.

One cell makes every call (x86_64 numbers, arguments that would succeed or fail differently
without the filter) and reports each errno; each syscall is then its own test case.
"""

from __future__ import annotations

import platform

import pytest
from test_cell_support import run_probe

from siloos.cell.seccomp import DENIED_SYSCALLS

pytestmark = pytest.mark.jail

# name -> (x86_64 number, arguments)
CALLS = {
    "unshare(CLONE_NEWUSER)": (272, (0x10000000,)),
    "unshare(CLONE_NEWNS)": (272, (0x00020000,)),
    "mount": (165, ("none", "/tmp", "tmpfs", 0, 0)),
    "umount2": (166, ("/tmp", 2)),
    "keyctl": (250, (0, -3, 0, 0, 0)),  # KEYCTL_GET_KEYRING_ID, session keyring
    "add_key": (248, ("user", "silo", "secret", 6, -2)),  # into the process keyring
    "request_key": (249, ("user", "silo", 0, 0)),
    "ptrace(PTRACE_TRACEME)": (101, (0, 0, 0, 0)),
    "bpf": (321, (0, 0, 0)),
    "io_uring_setup": (425, (8, "PARAMS")),
    "perf_event_open": (298, ("PARAMS", 0, -1, -1, 0)),
    "userfaultfd": (323, (0,)),
    "process_vm_readv": (310, (1, 0, 0, 0, 0, 0)),
    "process_vm_writev": (311, (1, 0, 0, 0, 0, 0)),
    "setns": (308, (-1, 0)),
    "pivot_root": (155, ("/tmp", "/tmp")),
    "chroot": (161, ("/tmp",)),
    "kexec_load": (246, (0, 0, 0, 0)),
    "init_module": (175, (0, 0, "")),
    "finit_module": (313, (0, "", 0)),
    "reboot": (169, (0, 0, 0, 0)),
    "swapon": (167, ("/tmp/x", 0)),
    "fsopen": (430, ("tmpfs", 0)),
    "open_tree": (428, (-100, "/tmp", 1)),
    "clone(CLONE_NEWUSER)": (56, (0x10000000 | 17, 0, 0, 0, 0)),
    "personality(ADDR_NO_RANDOMIZE)": (135, (0x0040000,)),
}

PROBE = """
import ctypes, errno, json, os
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
params = ctypes.create_string_buffer(256)
calls = CALLS_REPR
out = {}
for name, (nr, args) in calls.items():
    cargs = []
    for a in args:
        if a == "PARAMS":
            cargs.append(params)
        elif isinstance(a, str):
            cargs.append(ctypes.c_char_p(a.encode()))
        else:
            cargs.append(ctypes.c_long(a))
    ctypes.set_errno(0)
    rc = libc.syscall(ctypes.c_long(nr), *cargs)
    if rc == 0 and nr == 56:
        os._exit(0)  # a child made it out of clone: end it, report success from the parent
    out[name] = {"rc": rc, "errno": errno.errorcode.get(ctypes.get_errno(), "0")}
# Ordinary process creation and threads must still work under the clone filter.
pid = os.fork()
if pid == 0:
    os._exit(7)
out["fork"] = os.waitpid(pid, 0)[1] >> 8
import threading
t = threading.Thread(target=lambda: None); t.start(); t.join()
out["thread"] = "ok"
print(json.dumps(out))
""".replace("CALLS_REPR", repr(CALLS))


@pytest.fixture(scope="module")
def syscall_report(tmp_path_factory):
    assert platform.machine() == "x86_64", "syscall numbers below are x86_64"
    return run_probe(tmp_path_factory.mktemp("syscalls"), PROBE)


@pytest.mark.parametrize("name", sorted(CALLS))
def test_forbidden_syscall_answers_eperm(syscall_report, name):
    assert syscall_report[name] == {"rc": -1, "errno": "EPERM"}


def test_fork_and_threads_still_work(syscall_report):
    assert syscall_report["fork"] == 7
    assert syscall_report["thread"] == "ok"


def test_every_design_syscall_is_in_the_deny_list():
    required = {"ptrace", "mount", "umount", "unshare", "setns", "bpf", "keyctl", "add_key",
                "request_key", "perf_event_open", "userfaultfd", "process_vm_readv",
                "process_vm_writev", "io_uring_setup", "io_uring_enter", "io_uring_register",
                "kexec_load", "kexec_file_load", "init_module", "finit_module", "reboot",
                "swapon", "pivot_root", "chroot"}
    assert required <= set(DENIED_SYSCALLS)
