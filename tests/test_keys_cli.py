"""`silo keys mint|inspect|revoke` through the real CLI entry point."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from test_keys_support import b64json, parts, task_key

from siloos.cli.app import main
from siloos.keys.keyring import KeyRing, create_keyring
from siloos.keys.revocations import SqliteRevocations
from siloos.keys.verify import KeyRejected, KeyVerifier

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture()
def workspace(tmp_path, monkeypatch):
    (tmp_path / "silo.toml").write_text('[workspace]\nname = "t"\n')
    (tmp_path / "agents").mkdir()
    create_keyring(tmp_path / ".silo" / "keys")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as done:
        main(list(argv))
    out, err = capsys.readouterr()
    return done.value.code, out, err


def test_inspect_a_valid_task_key(workspace, capsys):
    ring = KeyRing.load(workspace / ".silo" / "keys")
    token = task_key(ring, now=None)
    code, out, err = run(capsys, "keys", "inspect", token, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["header"]["typ"] == "silo-task+jwt"
    assert report["claims"]["task_id"] == "task_0001"
    assert report["signature"] == {"verified": True, "reason": None}
    assert report["accepted"]["ok"] is True
    code, out, _ = run(capsys, "keys", "inspect", token)
    assert code == 0 and "signature: verified" in out


def test_inspect_a_forgery_shows_claims_but_not_verified(workspace, capsys):
    ring = KeyRing.load(workspace / ".silo" / "keys")
    header, claims, sig = parts(task_key(ring, now=None))
    forged = f"{b64json({**header, 'alg': 'none'})}.{b64json(claims)}."
    code, out, err = run(capsys, "keys", "inspect", forged, "--json")
    assert code == 1 and err.startswith("silo: error:") and len(err.splitlines()) == 1
    report = json.loads(out)
    assert report["claims"]["agent"] == claims["agent"]
    assert report["signature"]["verified"] is False
    assert report["signature"]["reason"]
    assert report["accepted"]["ok"] is False and report["accepted"]["code"] == 401
    hs = f"{b64json({**header, 'alg': 'HS256'})}.{b64json(claims)}.{sig}"
    code, out, _ = run(capsys, "keys", "inspect", hs, "--json")
    assert code == 1 and "algorithm" in json.loads(out)["signature"]["reason"]


@pytest.mark.parametrize("junk", ["garbage", "a.b.c", "", "ключ.ключ.ключ", "W10.e30.AA"])
def test_inspect_garbage_is_one_line_error(workspace, capsys, junk):
    code, out, err = run(capsys, "keys", "inspect", junk)
    assert code == 2 and out == ""
    assert err.startswith("silo: error: not a readable key") and len(err.splitlines()) == 1


def test_revoke_then_membrane_refuses(workspace, capsys):
    ring = KeyRing.load(workspace / ".silo" / "keys")
    token = task_key(ring, now=None)
    jti = parts(token)[1]["jti"]
    code, out, _ = run(capsys, "keys", "revoke", jti, "--reason", "leaked", "--json")
    assert code == 0 and json.loads(out) == {"jti": jti, "revoked": True,
                                             "already_revoked": False}
    code, out, _ = run(capsys, "keys", "revoke", jti)
    assert code == 0 and "already revoked" in out
    store = SqliteRevocations(workspace / ".silo" / "state.db")
    assert store.get(jti).reason == "leaked"
    verifier = KeyVerifier(ring.public_keys(), store)
    with pytest.raises(KeyRejected) as info:
        verifier.verify_task(token, expected_agent="refund-agent")
    assert info.value.code == 409
    code, out, _ = run(capsys, "keys", "inspect", token, "--json")
    assert json.loads(out)["accepted"]["code"] == 409


@pytest.mark.parametrize("jti", ["../../etc/passwd", "x", "'; DROP TABLE revoked; --"])
def test_revoke_bad_jti(workspace, capsys, jti):
    code, _, err = run(capsys, "keys", "revoke", jti)
    assert code == 2 and "not a key id" in err
    assert not (workspace / ".silo" / "state.db").exists()


def test_loose_keyring_mode_is_refused(workspace, capsys):
    os.chmod(workspace / ".silo" / "keys", 0o755)
    code, _, err = run(capsys, "keys", "inspect", "a.b.c")
    assert code == 2 and "readable by group or other" in err


def test_mint_prints_a_base_key_that_verifies(workspace, capsys):
    agent_dir = workspace / "agents" / "refund-agent"
    shutil.copytree(REPO / "agents" / "refund-agent", agent_dir)
    code, out, err = run(capsys, "keys", "mint", str(agent_dir))
    assert code == 0, err
    token = out.strip()
    ring = KeyRing.load(workspace / ".silo" / "keys")
    claims = KeyVerifier(ring.public_keys(), SqliteRevocations(workspace / ".silo" /
                                                               "state.db")
                         ).verify_base(token, expected_agent="refund-agent")
    from siloos.agent.pack import agent_digest

    assert claims.digest == agent_digest(agent_dir)
    assert "refunds.issue" in claims.caps
    code, out, _ = run(capsys, "keys", "mint", str(agent_dir), "--json")
    assert code == 0 and json.loads(out)["claims"]["agent"] == "refund-agent"


def test_mint_refuses_a_non_agent_folder(workspace, capsys):
    code, _, err = run(capsys, "keys", "mint", str(workspace))
    assert code == 2 and "not an agent folder" in err
