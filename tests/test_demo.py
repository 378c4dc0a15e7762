"""Demo mode as `python app.py` runs it: the portal with its in-process sandbox and mailbox."""
from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from .live import eventually, free_port
from .visitor import Visitor, text_of

ROOT = Path(__file__).resolve().parents[1]


def test_demo_visit_pays_two_invoices_and_the_receipt_is_in_the_sandbox_mailbox(demo, tmp_path):
    app, server = demo
    data = tmp_path
    assert app.config["DEMO_MODE"] is True
    visitor = Visitor(server.url)
    assert "Demo mode." in text_of(visitor.get("/login").text)
    visitor.login("M-1000")
    card_page = visitor.pay(["INV-10231", "INV-10266"])
    assert card_page.startswith(server.url + "/sandbox/cayan/transportweb.aspx")
    result = visitor.follow(visitor.card_page(card_page, "4012000033330026"))
    text = text_of(result.text)
    assert "Thank you! Your payment was successful" in text and "$715.74" in text
    assert "Demo mode." in text
    remaining = visitor.invoice_choices()
    assert "INV-10231" not in remaining and "INV-10266" not in remaining
    # The receipt goes out after the result page (cpp.payments.receipt_sender): wait for it.
    mailbox = eventually(lambda: text_of(visitor.get("/sandbox/mail").text),
                         lambda text: "Your payment of $715.74" in text)
    assert "Your payment of $715.74" in mailbox and "jordan.rivera@example.com" in mailbox
    # the sandbox never keeps a full card number
    for path in (data / "sandbox").glob("*.sqlite3"):
        with sqlite3.connect(path) as db:
            for table, in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
                for row in db.execute(f"SELECT * FROM {table}"):  # noqa: S608 - test's own tables
                    assert "4012000033330026" not in repr(row)


def test_python_app_py_starts_the_demo_and_prints_the_logins(tmp_path):
    port = free_port()
    env = {"PATH": "/usr/bin:/bin", "CPP_SANDBOX_DATA_DIR": str(tmp_path),
           "CPP_DATABASE": str(tmp_path / "ledger.sqlite3")}
    process = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                login = requests.get(f"http://127.0.0.1:{port}/login", timeout=2)
                break
            except requests.ConnectionError:
                time.sleep(0.2)
        else:
            pytest.fail("the demo did not start")
        assert login.status_code == 200 and "Account #" in login.text
        assert login.headers["Server"] == "CPP"  # no server or Python version for attackers
        # The demo owner it printed signs in to the dashboard (no two-factor in the demo only).
        from cpp.sandbox.demo import DEMO_OWNER_EMAIL, DEMO_OWNER_PASSWORD

        from .staff_visitor import StaffVisitor
        owner = StaffVisitor(f"http://127.0.0.1:{port}")
        assert owner.sign_in(DEMO_OWNER_EMAIL, DEMO_OWNER_PASSWORD).url.endswith("/staff/")
    finally:
        process.terminate()
        output = process.communicate(timeout=10)[0]
    assert "DEMO MODE" in output and "M-1000" in output and "password: demo" in output
    assert f"/staff/ as owner@demo.example (password: {DEMO_OWNER_PASSWORD}" in output
