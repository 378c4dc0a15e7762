"""Failed-login limits are exact: counted before PIMS is asked, in storage every portal process
shares (the ledger database, or a real Redis server), so neither simultaneous guesses nor a
second process get past them, and one customer's lockout is nobody else's."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from .conftest import redis_test_url
from .live import free_port
from .processes import production_env as portal_env
from .processes import waitress_portal
from .visitor import Visitor

ATTEMPTS = 50


@pytest.fixture(params=["ledger database", "redis"])
def two_portals(request, sandbox, smtp, tmp_path):
    settings = {}
    if request.param == "redis":
        settings["REDIS_URL"] = redis_test_url(15)
    database = tmp_path / "ledger.sqlite3"
    portals = []
    for index in range(2):
        port = free_port()
        env = portal_env(sandbox.url, smtp.port, database, f"http://127.0.0.1:{port}", **settings)
        portals.append(waitress_portal(env, port, tmp_path / f"portal-{index}.log").start())
    yield portals
    for portal in portals:
        portal.stop()


def test_fifty_simultaneous_wrong_logins_across_two_processes_reach_pims_five_times(
        two_portals, faults):
    # A distributed guess: every attempt from its own address, half to each process.
    visitors = [Visitor(two_portals[i % 2].url, source_address=f"127.0.3.{i + 1}")
                for i in range(ATTEMPTS)]
    for visitor in visitors:
        visitor.get("/login")
    faults.clear()
    barrier = threading.Barrier(ATTEMPTS)

    def guess(visitor: Visitor) -> int:
        barrier.wait()
        return visitor.post_form("/login", {"account": "M-1000", "password": "guess"},
                                 allow_redirects=False).status_code

    with ThreadPoolExecutor(ATTEMPTS) as pool:
        statuses = list(pool.map(guess, visitors))
    assert faults.calls[("pims", "AuthenticateCustomer")] == 5
    assert statuses.count(400) == 5 and statuses.count(429) == ATTEMPTS - 5, statuses
    # The account is locked on both processes, even for its right password ...
    owner = Visitor(two_portals[1].url, source_address="127.0.4.1")
    assert owner.login("M-1000").status_code == 429
    # ... and nobody else is: another customer, from another address, logs in on either.
    for portal in two_portals:
        other = Visitor(portal.url, source_address="127.0.4.2")
        assert other.login("M-1001").url == portal.url + "/invoices"
