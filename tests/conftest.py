"""Fixtures: the sandbox services and an SMTP server on loopback, and the portal pointed at them
exactly as a shop's portal is pointed at its real PIMS and Cayan (production mode, not demo)."""
from __future__ import annotations

import os
import re
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from cpp import config, create_app
from cpp.payments import receipt_sender
from cpp.payments.reconcile import stop_background
from cpp.sandbox import SANDBOX_DEFAULTS, create_sandbox_app
from cpp.sandbox.cayan_store import CayanStore
from cpp.sandbox.demo_data import seed
from cpp.sandbox.faults import FaultInjector
from cpp.sandbox.mailbox import MailboxStore, start_smtp
from cpp.sandbox.pims_store import PimsStore

from .chromium import axe, browser  # noqa: F401 - the session's Chromium and axe-core, for any test module
from .live import LiveServer, eventually, free_port
from .visitor import Visitor

ROOT = Path(__file__).resolve().parents[1]

# The tests run reconcile passes themselves. The portal's own, on by default every 300 s, would
# start in every portal a test makes and move the sandbox's call counts later in the session;
# test_reconcile.py tests the background job with RECONCILE_EVERY set. SHIPPED_DEFAULTS keeps
# what a shop gets.
SHIPPED_DEFAULTS = dict(config.DEFAULTS)
config.DEFAULTS["RECONCILE_EVERY"] = 0
REFERENCE_CAYAN = ROOT.parent / "shared" / "reference" / "cayan"

# Obviously fake credentials, shared by the sandbox and the portal under test.
TEST_CREDENTIALS = {
    "SANDBOX_PIMS_USERNAME": "test-portal",
    "SANDBOX_PIMS_PASSWORD": "test-only-pims-password",
    "SANDBOX_CAYAN_MERCHANT_NAME": "TEST MERCHANT",
    "SANDBOX_CAYAN_MERCHANT_SITE_ID": "TESTSITE",
    "SANDBOX_CAYAN_MERCHANT_KEY": "TEST1-TEST2-TEST3-TEST4-TEST5",
}
assert set(TEST_CREDENTIALS) == set(SANDBOX_DEFAULTS)


# A test that asks for any of these starts real servers (the sandbox over HTTP, SMTP,
# Chromium, nginx) or a whole app: it is marked `slow`, and `python -m pytest -m "not slow"`
# leaves it out. README's `python -m pytest` runs everything.
SLOW_FIXTURES = frozenset({"ledger_database", "seeded_pims", "sandbox", "smtp", "make_app", "app", "client",
                           "logged_in", "make_portal", "portal", "visitor", "demo", "browser",
                           "tmp_path", "clean_env"})


def pytest_collection_modifyitems(items) -> None:
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@dataclass
class Sandbox:
    url: str
    pims: PimsStore
    cayan: CayanStore
    server: LiveServer

    @property
    def pims_url(self) -> str:
        return self.url + "/sandbox/pims"


@pytest.fixture(scope="session")
def seeded_pims(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("seed") / "sandbox-pims.sqlite3"
    seed(PimsStore(str(path)))
    return path


@pytest.fixture
def faults() -> FaultInjector:
    """This test's fault switches and call counts, shared by its sandbox and its SMTP server."""
    return FaultInjector()


@pytest.fixture
def sandbox(tmp_path, seeded_pims, faults):
    data = tmp_path / "sandbox"
    data.mkdir()
    shutil.copy(seeded_pims, data / "sandbox-pims.sqlite3")
    app = create_sandbox_app(str(data), ("pims", "cayan"), TEST_CREDENTIALS, faults)
    server = LiveServer(app)
    yield Sandbox(server.url, app.extensions["sandbox_pims"], app.extensions["sandbox_cayan"],
                  server)
    server.stop()


@dataclass
class Smtp:
    port: int
    store: MailboxStore

    def messages(self):
        return self.store.messages()

    def wait_for(self, count: int = 1, timeout: float = 10.0):
        """The messages, once at least `count` have arrived: a payment's receipt goes out from
        the portal's background sender just after the customer's page, not before it."""
        return eventually(self.messages, lambda found: len(found) >= count, timeout)


@pytest.fixture
def smtp(tmp_path, faults):
    store = MailboxStore(str(tmp_path / "mail.sqlite3"))
    controller = start_smtp(store, faults)
    yield Smtp(controller.port, store)
    controller.stop()


def portal_config(sandbox: Sandbox, smtp: Smtp, tmp_path: Path, **overrides) -> dict:
    config = {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key-not-for-production",
        "PUBLIC_URL": "http://127.0.0.1:9",  # replaced by the live portal's own address
        "DATABASE": str(tmp_path / "ledger.sqlite3"),
        "SHOP_NAME": "Test Repair Shop",
        "PIMS_URL": sandbox.pims_url,
        "PIMS_USERNAME": TEST_CREDENTIALS["SANDBOX_PIMS_USERNAME"],
        "PIMS_PASSWORD": TEST_CREDENTIALS["SANDBOX_PIMS_PASSWORD"],
        "PIMS_TIMEOUT": 3,
        "CAYAN_MERCHANT_NAME": TEST_CREDENTIALS["SANDBOX_CAYAN_MERCHANT_NAME"],
        "CAYAN_MERCHANT_SITE_ID": TEST_CREDENTIALS["SANDBOX_CAYAN_MERCHANT_SITE_ID"],
        "CAYAN_MERCHANT_KEY": TEST_CREDENTIALS["SANDBOX_CAYAN_MERCHANT_KEY"],
        "CAYAN_TRANSPORT_URL": sandbox.url + "/sandbox/cayan/transport",
        "CAYAN_TRANSPORTWEB_URL": sandbox.url + "/sandbox/cayan/transportweb.aspx",
        "CAYAN_REPORTING_URL": sandbox.url + "/sandbox/cayan/reporting",
        "CAYAN_CREDIT_URL": sandbox.url + "/sandbox/cayan/credit",
        "CAYAN_TIMEOUT": 3,
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": smtp.port,
        "MAIL_DEFAULT_SENDER": ("Test Repair Shop", "billing@shop.example"),
        "MAIL_TIMEOUT": 3,
        "LOCATIONS": {
            "MAIN": {"name": "Test Repair - Main", "address": "1 Main St, Testville",
                     "phone": "(555) 010-0001", "mail_sender": "main@shop.example",
                     "mail_sender_name": "Test Repair Main", "mail_reply_to": "desk@shop.example"},
            "WEST": {"name": "Test Repair - West", "address": "9 West Ave, Testville",
                     "phone": "(555) 010-0002"},
        },
    }
    config.update(overrides)
    return config


TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


class BrowserLikeClient(FlaskClient):
    """Flask's test client posting forms the way a browser does, with CSRF protection on:
    the form's token from a page of the same session, and the page's Origin header.

    `with_token=False` posts without a token, as a forged cross-site form would.
    """

    def post(self, *args, with_token: bool = True, **kwargs):
        base_url = kwargs.get("base_url", "http://localhost")
        headers = dict(kwargs.pop("headers", None) or {})
        headers.setdefault("Origin", base_url.rstrip("/"))
        data = kwargs.get("data")
        if with_token and (data is None or isinstance(data, dict)) \
                and "csrf_token" not in (data or {}):
            kwargs["data"] = {**(data or {}), "csrf_token": self.csrf_token(base_url,
                                                                           kwargs.get("environ_base") or {})}
        return super().post(*args, headers=headers, **kwargs)

    def csrf_token(self, base_url: str, environ_base=None) -> str:
        # The login form carries it; once logged in, every page's Log Out form does (a 404
        # page asks nothing of PIMS, so no fault armed for a test is used up here).
        for path in ("/login", "/no-such-page"):
            page = self.get(path, base_url=base_url, environ_base=environ_base)
            found = TOKEN.search(page.get_data(as_text=True))
            if found:
                return found.group(1)
        raise AssertionError("no page of this session carries a CSRF token")


# A real PostgreSQL server (trust auth on the development and CI machines); each test gets a
# schema of its own, dropped afterwards.
POSTGRESQL_URL = os.environ.get("CPP_TEST_POSTGRESQL", "postgresql://postgres@127.0.0.1:5432/test")


def redis_test_url(database: int) -> str:
    """A Redis database of the test's own, emptied; skipped off CI when there is no Redis."""
    import redis

    url = f"redis://127.0.0.1:6379/{database}"
    try:
        redis.Redis.from_url(url).flushdb()
    except redis.ConnectionError:
        if os.environ.get("CI"):
            raise
        pytest.skip("no Redis on 127.0.0.1:6379 (apt-get install redis-server)")
    return url


def pytest_generate_tests(metafunc) -> None:
    """A module marked `both_databases` runs every test on SQLite and on PostgreSQL."""
    if metafunc.definition.get_closest_marker("both_databases") \
            and "ledger_database" in metafunc.fixturenames:
        metafunc.parametrize("ledger_database", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture
def ledger_database(request, tmp_path):
    """The DATABASE setting for the portal under test: a SQLite file, or a fresh PostgreSQL
    schema brought up to date the way a shop does it (cpp db upgrade)."""
    if getattr(request, "param", "sqlite") == "sqlite":
        yield str(tmp_path / "ledger.sqlite3")
        return
    yield from postgresql_schema()


def postgresql_schema(upgraded: bool = True):
    """Yields the URL of a fresh schema (brought up to date unless `upgraded` is False), and
    drops it when resumed."""
    import psycopg

    from cpp import migrate
    from cpp.database import Database

    schema = "cpp_test_" + secrets.token_hex(6)
    try:
        admin = psycopg.connect(POSTGRESQL_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError:
        if os.environ.get("CI"):
            raise
        pytest.skip("no PostgreSQL on 127.0.0.1:5432 (apt-get install postgresql)")
    with admin:
        admin.execute(f"CREATE SCHEMA {schema}")
        url = f"{POSTGRESQL_URL}?options=-csearch_path%3D{schema}"
        if upgraded:
            database = Database(url)
            migrate.upgrade(database)
            database.dispose()
        try:
            yield url
        finally:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def make_app(sandbox, smtp, tmp_path, ledger_database):
    """The portal as a shop runs it: production mode, CSRF on."""
    apps = []

    def make(**overrides):
        app = create_app(portal_config(sandbox, smtp, tmp_path,
                                       **{"DATABASE": ledger_database, **overrides}))
        app.test_client_class = BrowserLikeClient
        apps.append(app)
        return app
    yield make
    for app in apps:
        # Its background job first (it may be mid-pass, holding a connection), then its pooled
        # connections, before the schema goes.
        stop_background(app)
        receipt_sender.stop(app)
        app.extensions["database"].dispose()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def logged_in(client):
    response = client.post("/login", data={"account": "M-1000", "password": "demo"})
    assert response.status_code == 303
    return client


@pytest.fixture
def make_portal(make_app):
    """The portal served over real HTTP, CSRF on, as a customer's browser meets it."""
    servers = []

    def make(**overrides):
        app = make_app(**overrides)
        server = LiveServer(app)
        app.config["PUBLIC_URL"] = server.url
        servers.append(server)
        return app, server
    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def portal(make_portal):
    app, server = make_portal()
    return app, server


@pytest.fixture
def visitor(portal):
    return Visitor(portal[1].url)


@pytest.fixture
def closed_port() -> int:
    return free_port()  # nothing listens there: connections are refused


@pytest.fixture
def demo(tmp_path):
    """The portal in demo mode, as `python app.py` runs it, served on a loopback port."""
    port = free_port()
    app = create_app({"PUBLIC_URL": f"http://127.0.0.1:{port}", "TESTING": True,
                      "SANDBOX_DATA_DIR": str(tmp_path / "sandbox"),
                      "DATABASE": str(tmp_path / "ledger.sqlite3")})
    server = LiveServer(app, port)
    yield app, server
    server.stop()
    app.extensions["sandbox_smtp"].stop()
