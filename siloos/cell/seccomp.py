"""The cell's seccomp policy, written in kafel (nsjail's policy language).

Denied calls return EPERM (`ERRNO(1)`) rather than killing the process: a Python agent then
sees a clean `PermissionError` it can report, and the call still never reaches the kernel.
Everything not listed is allowed; the list covers design §4 (ptrace, mount, umount2 — kafel
spells it `umount` on x86_64 — unshare, setns, bpf, the key syscalls, perf_event_open,
userfaultfd, process_vm_*, io_uring_*, kexec_*, module loading, reboot, swap, pivot_root,
chroot) plus the new mount API, handle-based opens, clock and host-identity changes.

Two calls are filtered by argument: `clone` with any CLONE_NEW* namespace flag (so the
cell cannot build a user namespace and regain capabilities inside it), and `personality`
other than a query or PER_LINUX. `clone3` passes its flags in memory that seccomp cannot
read, so it answers ENOSYS, which makes glibc fall back to plain `clone`.
"""

from __future__ import annotations

#: Syscalls the cell may never make (x86_64 kafel names). Each one is checked to compile
#: with the bundled nsjail in the jail tests and by `silo doctor`.
DENIED_SYSCALLS: tuple[str, ...] = (
    # design §4
    "ptrace", "mount", "umount", "unshare", "setns", "bpf",
    "keyctl", "add_key", "request_key", "perf_event_open", "userfaultfd",
    "process_vm_readv", "process_vm_writev",
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
    "reboot", "swapon", "swapoff", "pivot_root", "chroot",
    # the new mount API and friends: mounting by another name
    "fsopen", "fsmount", "fsconfig", "fspick", "move_mount", "open_tree", "mount_setattr",
    # reaching files and processes around the mount namespace
    "open_by_handle_at", "name_to_handle_at", "kcmp", "pidfd_getfd", "process_madvise",
    # host-wide state
    "acct", "quotactl", "lookup_dcookie", "iopl", "ioperm", "syslog", "vhangup", "uselib",
    "settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
    "sethostname", "setdomainname",
)

#: CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER
#: | CLONE_NEWPID | CLONE_NEWNET
CLONE_NAMESPACE_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 \
    | 0x20000000 | 0x40000000

EPERM = 1
ENOSYS = 38


def build_policy(denied: tuple[str, ...] = DENIED_SYSCALLS) -> str:
    """The kafel policy string passed to nsjail's --seccomp_string."""
    if not denied:
        # An empty deny list would be a policy that allows everything: refuse to build it.
        raise ValueError("seccomp policy: the deny list is empty")
    names = ", ".join(denied)
    return (
        f"ERRNO({EPERM}) {{ {names}, "
        f"clone(clone_flags) {{ (clone_flags & {CLONE_NAMESPACE_FLAGS:#x}) != 0 }}, "
        "personality(persona) { persona != 0 && persona != 0xffffffff } } "
        f"ERRNO({ENOSYS}) {{ clone3 }} "
        "DEFAULT ALLOW"
    )
