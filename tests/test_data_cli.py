"""`silo data import` and `silo outbox` end to end, as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from siloos.backoffice import BackOffice

DEMO = Path(__file__).resolve().parents[1] / "siloos" / "backoffice" / "demo"
SILO = [sys.executable, "-c", "from siloos.cli.app import main; main()"]


@pytest.fixture
def workspace(tmp_path):
    (tmp_path / "silo.toml").write_text('[workspace]\nname = "cli-test"\n')
    return tmp_path


def silo(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SILO, *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def test_import_demo_files(workspace):
    done = silo(workspace, "data", "import", "customers", str(DEMO / "customers.csv"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("imported 5 rows into customers")
    done = silo(workspace, "data", "import", "orders", str(DEMO / "orders.csv"), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["rows"] == 10
    with BackOffice.open(workspace / ".silo" / "backoffice.db") as office:
        assert office.count("orders") == 10


def test_import_from_a_subfolder_finds_the_workspace(workspace):
    sub = workspace / "agents"
    sub.mkdir()
    done = silo(sub, "data", "import", "customers", str(DEMO / "customers.csv"))
    assert done.returncode == 0, done.stderr
    assert (workspace / ".silo" / "backoffice.db").is_file()


def test_bad_csv_is_one_line_exit_2_and_nothing_imported(workspace):
    silo(workspace, "data", "import", "customers", str(DEMO / "customers.csv"))
    (workspace / "orders.csv").write_text(
        "id,customer_id,item,amount,status,created_at\n"
        "O-1,C-1001,Kettle,12.00,delivered,2025-01-01\n"
        "O-2,C-1001,Kettle,abc,delivered,2025-01-01\n")
    done = silo(workspace, "data", "import", "orders", "orders.csv")
    assert done.returncode == 2
    assert done.stderr == "silo: error: orders.csv:3: orders.amount: 'abc' is not a number\n"
    assert "Traceback" not in done.stderr
    with BackOffice.open(workspace / ".silo" / "backoffice.db") as office:
        assert office.count("orders") == 0


@pytest.mark.parametrize(("args", "message"), [
    (("data", "import", "refunds", "x.csv"), "unknown table 'refunds'"),
    (("data", "import", "customers", "missing.csv"), "missing.csv: no such file"),
])
def test_usage_errors_exit_2(workspace, args, message):
    done = silo(workspace, *args)
    assert done.returncode == 2
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_binary_file_is_refused(workspace):
    (workspace / "blob.csv").write_bytes(bytes(range(256)))
    done = silo(workspace, "data", "import", "customers", "blob.csv")
    assert done.returncode == 2
    assert done.stderr == "silo: error: blob.csv: binary file (contains NUL bytes), not CSV text\n"


def test_outside_a_workspace(tmp_path):
    done = silo(tmp_path, "data", "import", "customers", str(DEMO / "customers.csv"))
    assert done.returncode == 2
    assert "silo.toml" in done.stderr


def test_outbox_empty_does_not_create_a_back_office(workspace):
    done = silo(workspace, "outbox")
    assert done.returncode == 0 and done.stdout.strip() == "no messages sent"
    done = silo(workspace, "outbox", "--json")
    assert json.loads(done.stdout) == []
    assert not (workspace / ".silo" / "backoffice.db").exists()


def test_outbox_lists_sent_messages(workspace):
    with BackOffice.open(workspace / ".silo" / "backoffice.db") as office:
        office.seed_demo()
        message_id = office.send_email(
            to="priya.vt@example.org", subject="Refund issued", body="Done.\n",
            template="refund-confirmation", task_id="task_aaaaaaaaaaaaaaaa", hop=1,
            idempotency_key="task_aaaaaaaaaaaaaaaa/1/1")
    done = silo(workspace, "outbox", "--json")
    assert done.returncode == 0, done.stderr
    box = json.loads(done.stdout)
    assert [m["message_id"] for m in box] == [message_id]
    assert box[0]["to"] == "priya.vt@example.org"
    text = silo(workspace, "outbox").stdout
    assert message_id in text and "priya.vt@example.org" in text and "Refund issued" in text
