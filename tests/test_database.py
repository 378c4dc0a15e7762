"""The database behind the ledger: SQLite ledgers written before migrations are kept, and a
PostgreSQL database is upgraded by its command, never behind the shop's back."""
from __future__ import annotations

import itertools
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from cpp import create_app, migrate
from cpp.database import Database, DatabaseError
from cpp.payments import states
from cpp.payments.ledger import Ledger

from .conftest import POSTGRESQL_URL, BrowserLikeClient, portal_config, postgresql_schema
from .processes import ROOT, production_env
from .test_concurrency import at_once
from .test_payments import APPROVE
from .visitor import Visitor, text_of

SCHEMA_BEFORE_MIGRATIONS = Path(__file__).with_name("data") / "schema_before_migrations.sql"


def test_head_is_the_newest_migration():
    assert migrate.HEAD == migrate.head_from_alembic()


def test_a_ledger_from_before_migrations_is_upgraded_not_lost(sandbox, smtp, tmp_path):
    path = tmp_path / "ledger.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(SCHEMA_BEFORE_MIGRATIONS.read_text())
        db.execute("INSERT INTO payments (reference, transaction_id, customer_code, customer_name,"
                   " amount_cents, state, created_at, updated_at) VALUES ('OLDPAY23', 'CPPOLD1',"
                   " 'M-1000', 'Jordan Rivera', 19900, 'posted', '2025-11-01T10:00:00+00:00',"
                   " '2025-11-01T10:00:00+00:00')")
        db.execute("INSERT INTO payment_invoices VALUES (1, 'INV-10100', 19900, 'MAIN', NULL,"
                   " '2025-10-01')")
    app = create_app(portal_config(sandbox, smtp, tmp_path, DATABASE=str(path)))
    database = app.extensions["database"]
    assert migrate.current(database) == migrate.head()
    old = app.extensions["ledger"].get("OLDPAY23")
    assert old.state == states.POSTED and old.invoice_numbers == ["INV-10100"]
    # New tables arrived, and the portal works on the upgraded file.
    app.test_client_class = BrowserLikeClient
    client = app.test_client()
    assert client.post("/login", data={"account": "M-1000", "password": "demo"}).status_code == 303
    with app.app_context():
        from cpp.payments.reconcile import reconcile
        assert reconcile()["skipped"] == 0  # the job lock's table exists
    database.dispose()


def test_the_production_server_upgrades_a_sqlite_ledger_in_a_child_process(tmp_path):
    """python -m cpp.serve upgrades an old ledger before it serves, in a child process: the
    serving process never loads Alembic (some 10 MB it would hold for weeks)."""
    path = tmp_path / "ledger.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(SCHEMA_BEFORE_MIGRATIONS.read_text())
    env = production_env("http://127.0.0.1:9", 25, path, "http://127.0.0.1:9")
    probe = ("import sys\nfrom cpp import serve\nserve.upgrade_sqlite_ledger_aside()\n"
             "from cpp import create_app\ncreate_app()\nprint(sorted({m.split('.')[0] for m in"
             " sys.modules} & {'alembic', 'mako'}))")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"  # create_app found the schema current: no Alembic here
    database = Database(str(path), 5.0)
    assert migrate.current(database) == migrate.head()
    database.dispose()


def test_processes_upgrading_one_new_sqlite_ledger_at_once_take_turns(tmp_path):
    """gunicorn's workers each create the app, and so each upgrade a new SQLite ledger, at
    the same moment: one creates the tables, the others wait and find them made. Forked
    after Alembic is loaded and let go together, as gunicorn's workers are."""
    import multiprocessing

    import alembic.command  # noqa: F401 - loaded before the fork, as in gunicorn's workers

    path = str(tmp_path / "ledger.sqlite3")
    context = multiprocessing.get_context("fork")
    start = context.Barrier(4)
    upgrades = [context.Process(target=upgrade_when_all_are_ready, args=(path, start))
                for _ in range(4)]
    for upgrading in upgrades:
        upgrading.start()
    for upgrading in upgrades:
        upgrading.join(120)
    assert [upgrading.exitcode for upgrading in upgrades] == [0, 0, 0, 0]
    database = Database(path, 5.0)
    assert migrate.current(database) == migrate.head()
    database.dispose()


def upgrade_when_all_are_ready(path: str, start) -> None:
    start.wait()
    database = Database(path, 30.0)
    migrate.upgrade(database)
    database.dispose()


def test_a_lock_table_made_before_migrations_is_made_again(sandbox, smtp, tmp_path):
    """A development build created job_locks by hand (column `until`): the upgrade copes."""
    path = tmp_path / "ledger.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(SCHEMA_BEFORE_MIGRATIONS.read_text() + "CREATE TABLE job_locks (name TEXT"
                         " PRIMARY KEY, holder TEXT NOT NULL, until REAL NOT NULL);")
    app = create_app(portal_config(sandbox, smtp, tmp_path, DATABASE=str(path)))
    assert migrate.current(app.extensions["database"]) == migrate.head()
    with app.app_context():
        from cpp.shared_state import only_one_at_a_time
        with only_one_at_a_time("reconcile", 5) as ours:
            assert ours
    app.extensions["database"].dispose()


def test_a_postgresql_database_is_upgraded_by_its_command_only(sandbox, smtp, tmp_path):
    schemas = postgresql_schema(upgraded=False)
    url = next(schemas)
    try:
        app = create_app(portal_config(sandbox, smtp, tmp_path, DATABASE=url))
        page = app.test_client().get("/login")
        assert page.status_code == 503 and "being updated" in text_of(page.get_data(as_text=True))
        result = app.test_cli_runner().invoke(args=["cpp", "db", "upgrade"])
        assert result.exit_code == 0 and f"-> {migrate.head()}" in result.output, result.output
        app.extensions["database"].dispose()
        restarted = create_app(portal_config(sandbox, smtp, tmp_path, DATABASE=url))
        assert restarted.test_client().get("/login").status_code == 200
        again = restarted.test_cli_runner().invoke(args=["cpp", "db", "upgrade"])
        assert "already at" in again.output
        restarted.extensions["database"].dispose()
    finally:
        next(schemas, None)


@pytest.mark.both_databases
def test_two_portals_sharing_one_ledger_post_each_payment_once(make_portal, sandbox, faults,
                                                               ledger_database):
    """Two portal processes (or machines) on one ledger, the returns for each payment split
    across both at the same moment: nothing lost, nothing doubled (ledger = PIMS = Cayan)."""
    first, first_server = make_portal()
    second, second_server = make_portal(DATABASE=first.config["DATABASE"])
    numbers = ["INV-10231", "INV-10244", "INV-10252", "INV-10260", "INV-10266", "INV-10271"]
    for number in numbers:
        visitor = Visitor(first_server.url)
        visitor.login("M-1000")
        back = visitor.card_page(visitor.pay([number]), APPROVE)
        other = back.replace(first_server.url, second_server.url)
        responses = at_once(6, returns_split_across(
            [back, other], visitor.session.cookies.get_dict()))
        assert all(r.status_code == 200 for r in responses)
    ledger: Ledger = first.extensions["ledger"]
    posted = ledger.find(states=(states.POSTED,))
    assert len(posted) == len(numbers) == len(ledger.find())
    assert len(sandbox.pims.all_payments()) == len(numbers)
    assert faults.calls[("pims", "ApplyPayment")] == len(numbers)
    approved_sales = [row for p in posted for row in sandbox.cayan.by_transaction_id(
        p.transaction_id) if row["approval_status"].startswith("APPROVED")]
    assert len(approved_sales) == len(numbers)


def returns_split_across(urls: list[str], cookies: dict):
    """Each call returns to the next of `urls` in turn (thread-safe: itertools.cycle)."""
    turns = itertools.cycle(urls)
    return lambda: requests.get(next(turns), cookies=cookies, timeout=30)


def test_two_portal_processes_on_one_postgresql_ledger_post_each_payment_once(
        sandbox, smtp, tmp_path, faults):
    """As a chain of shops runs it: two portal processes (python -m cpp.serve, as on two
    machines) sharing one PostgreSQL ledger and its sessions, each payment's returns split
    across both at the same moment: nothing lost, nothing doubled (ledger = PIMS = Cayan)."""
    from cpp.database import Database

    from .live import free_port
    from .processes import production_env, waitress_portal

    schema = postgresql_schema()
    url = next(schema)
    portals = []
    try:
        for index in range(2):
            port = free_port()
            env = production_env(sandbox.url, smtp.port, tmp_path / "unused.sqlite3",
                                 f"http://127.0.0.1:{port}", DATABASE=url)
            portals.append(waitress_portal(env, port, tmp_path / f"portal-{index}.log").start())
        first, second = portals
        numbers = ["INV-10231", "INV-10244", "INV-10252", "INV-10260"]
        faults.clear()
        for number in numbers:
            visitor = Visitor(first.url)
            visitor.login("M-1000")  # the session lives in PostgreSQL: both processes know it
            back = visitor.card_page(visitor.pay([number]), APPROVE)
            other = back.replace(first.url, second.url)
            responses = at_once(6, returns_split_across(
                [back, other], visitor.session.cookies.get_dict()))
            assert all(r.status_code == 200 for r in responses), \
                [r.status_code for r in responses]
            assert all("Thank you! Your payment was successful" in text_of(r.text)
                       for r in responses)
        database = Database(url)
        ledger = Ledger(database)
        posted = ledger.find(states=(states.POSTED,))
        assert len(posted) == len(numbers) == len(ledger.find())
        assert len(sandbox.pims.all_payments()) == len(numbers)
        assert faults.calls[("pims", "ApplyPayment")] == len(numbers)
        sales = [row for p in posted for row in sandbox.cayan.by_transaction_id(p.transaction_id)
                 if row["approval_status"].startswith("APPROVED")]
        assert len(sales) == len(numbers)
        assert len(smtp.wait_for(len(numbers))) == len(numbers)  # one receipt each
        database.dispose()
    finally:
        for portal in portals:
            portal.stop()
        next(schema, None)  # drops the schema


def flush_setting(db) -> str:
    """What this transaction's commit waits for: SQLite's synchronous (2 FULL, 1 NORMAL), or
    PostgreSQL's synchronous_commit."""
    return str(db.execute("SHOW synchronous_commit" if db.postgresql
                          else "PRAGMA synchronous").fetchone()[0])


@pytest.mark.parametrize("ledger_database", ["sqlite", "postgresql"], indirect=True)
def test_a_write_that_may_be_lost_skips_the_flush_and_the_next_write_never_inherits_it(
        ledger_database):
    database = Database(ledger_database)
    try:
        with database.connect() as db:  # the server's own setting, on PostgreSQL
            durable = flush_setting(db) if database.postgresql else "2"
        relaxed = "off" if database.postgresql else "1"
        assert durable != relaxed
        for _ in range(3):  # the pool hands the same connection back each time
            with database.transaction(durable=False) as db:
                assert flush_setting(db) == relaxed
            with database.transaction() as db:
                assert flush_setting(db) == durable
    finally:
        database.dispose()


@pytest.mark.parametrize("ledger_database", ["sqlite", "postgresql"], indirect=True)
def test_only_sessions_login_counters_leases_and_receipt_claims_skip_the_flush(ledger_database):
    """What a power cut may take without harm: a session's save, a login count, a posting
    lease (its holder writes the attempt durably before it calls out), a receipt's claim (the
    receipt is then still to send). Never a payment's state or attempt, how a receipt's
    sending ended, an ended session or a job lock."""
    from decimal import Decimal

    from cpp.payments import record
    from cpp.payments.ledger import PaymentInvoice
    from cpp.shared_state.database_backend import DatabaseSharedState

    database = Database(ledger_database)
    migrate.upgrade(database)
    commits: list[bool] = []  # each write transaction's `durable`, in order
    opening = database.transaction

    def transaction(durable: bool = True):
        commits.append(durable)
        return opening(durable)

    database.transaction = transaction
    state, ledger = DatabaseSharedState(database), Ledger(database)

    def durable(action) -> list[bool]:
        commits.clear()
        action()
        return commits[:]

    try:
        assert durable(lambda: state.save_session("k", "{}", 9e9)) == [False]
        assert durable(lambda: state.count_attempt("account:A-1", 60)) == [False]
        assert durable(lambda: state.uncount_attempt("account:A-1")) == [False]
        assert durable(lambda: state.delete_session("k")) == [True]  # logout: gone for good
        assert durable(lambda: state.take_lock("job", "me", 60)) == [True]
        created = []

        def create() -> None:
            created.append(record.create(
                ledger, "test", customer_code="A-1", customer_name="A", customer_email=None,
                invoices=[PaymentInvoice("I-1", Decimal("10.00"), "MAIN", None, None)])[0])

        assert durable(create) == [True]
        payment_id = ledger.get(created[0]).id
        assert durable(lambda: record.take_lease(ledger, payment_id, states.NEW, 60)) == [False]
        assert durable(lambda: record.release_lease(ledger, payment_id)) == [False]
        # Taken to call out: the attempt, and with it the lease, wait for the disk.
        assert durable(lambda: record.take_lease_to_try(
            ledger, payment_id, states.NEW, 60, "posting")) == [True]
        assert durable(lambda: record.transition(
            ledger, payment_id, states.NEW, states.STAGED, "staged", transport_key="tk",
            validation_key="vk")) == [True]
        assert durable(lambda: record.release_lease(ledger, payment_id)) == [False]
        for later in (states.APPROVED, states.POSTED):
            assert record.transition(ledger, payment_id, ledger.get(created[0]).state, later,
                                     later)
        # A receipt's claim keeps live senders apart; lost to a power cut, the receipt is
        # simply still to send. How its sending ended is written for good.
        claimed_at = "2026-01-01T00:00:00+00:00"
        assert durable(lambda: record.claim_receipt(
            ledger, payment_id, (states.RECEIPT_NONE,), at=claimed_at)) == [False]
        assert durable(lambda: record.take_claimed_receipt(ledger, payment_id,
                                                           claimed_at)) == [False]
        assert durable(lambda: record.receipt_outcome(
            ledger, payment_id, states.RECEIPT_SENT, "sent")) == [True]
    finally:
        database.dispose()


def test_a_posting_lease_holds_against_a_machine_whose_clock_runs_ahead(monkeypatch):
    """Portal machines sharing one PostgreSQL ledger, one clock ten minutes ahead of the
    other's: a lease taken on one must still keep the other from posting the same payment.
    Both read the time from the database server."""
    import datetime as dt
    from decimal import Decimal

    from cpp.payments import record
    from cpp.payments.ledger import PaymentInvoice

    schemas = postgresql_schema()
    database = Database(next(schemas))
    try:
        ledger = Ledger(database)
        reference, _ = record.create(
            ledger, "test", customer_code="A-1", customer_name="A", customer_email=None,
            invoices=[PaymentInvoice("I-1", Decimal("10.00"), "MAIN", None, None)])
        payment_id = ledger.get(reference).id
        assert record.take_lease(ledger, payment_id, states.NEW, 60)  # the first machine
        ahead = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10)
        monkeypatch.setattr(record, "utcnow", lambda: ahead)  # the second machine's clock
        assert not record.take_lease(ledger, payment_id, states.NEW, 60)
    finally:
        database.dispose()
        next(schemas, None)


def test_a_payment_of_nothing_is_refused_as_such(ledger_database):
    """The table refuses an amount of zero too, but as an integrity error, which creating a
    payment took for a reference collision: ten tries, then 'could not allocate a unique
    payment reference' (a 500 for a $0.00 invoice from PIMS)."""
    from decimal import Decimal

    from cpp.payments import record
    from cpp.payments.ledger import PaymentInvoice

    database = Database(ledger_database)
    migrate.upgrade(database)
    ledger = Ledger(database)
    try:
        for amounts in ([Decimal("0.00")], [Decimal("25.00"), Decimal("0.00")]):
            with pytest.raises(ValueError, match="pay something on every invoice"):
                record.create(ledger, "test", customer_code="A-1", customer_name="A",
                              customer_email=None,
                              invoices=[PaymentInvoice(f"I-{n}", amount, "MAIN", None, None)
                                        for n, amount in enumerate(amounts)])
        assert ledger.find() == []
    finally:
        database.dispose()


LOCK = "INSERT INTO job_locks (name, holder, held_until) VALUES (?, ?, ?)"


@pytest.mark.parametrize("ledger_database", ["sqlite", "postgresql"], indirect=True)
def test_a_driver_error_is_sqlalchemys_and_undoes_its_whole_transaction(ledger_database):
    """Statements run on the driver's cursor; callers still catch SQLAlchemy's errors."""
    from sqlalchemy.exc import IntegrityError

    database = Database(ledger_database)
    migrate.upgrade(database)
    try:
        with database.transaction() as db:
            db.execute(LOCK, ("kept", "me", 1))
        with pytest.raises(IntegrityError), database.transaction() as db:
            db.execute(LOCK, ("undone", "me", 1))
            db.execute(LOCK, ("kept", "me", 1))  # the same name again
        with database.transaction() as db:  # a failure inside a savepoint undoes only itself
            db.execute(LOCK, ("after", "me", 1))
            with pytest.raises(IntegrityError), db.savepoint():
                db.execute(LOCK, ("after", "me", 1))
            db.execute(LOCK, ("after savepoint", "me", 1))
        with database.connect() as db:
            names = [row["name"] for row in db.execute("SELECT name FROM job_locks ORDER BY name")]
        assert names == ["after", "after savepoint", "kept"]
        with pytest.raises(DatabaseError):
            database.fetch_one("SELECT nothing FROM job_locks")
        with pytest.raises(ValueError, match="twice"):  # which one would row["name"] be?
            database.fetch_one("SELECT name, holder AS name FROM job_locks")
    finally:
        database.dispose()


def test_a_postgresql_transaction_that_failed_is_never_taken_for_written():
    """PostgreSQL restarted, or an administrator ended the portal's session: the pool checks a
    connection before lending it, and one that dies in a transaction (in a savepoint too)
    fails that transaction as a DatabaseError and is thrown away, so the next one works."""
    import psycopg

    schemas = postgresql_schema()
    database = Database(next(schemas))
    admin = psycopg.connect(POSTGRESQL_URL, autocommit=True)

    def end(backend: int) -> None:
        admin.execute("SELECT pg_terminate_backend(%s)", (backend,))

    try:
        with database.transaction() as db:
            backend = db.execute("SELECT pg_backend_pid()").fetchone()[0]
        end(backend)  # while it waits in the pool
        with database.transaction() as db:  # replaced at once
            assert db.execute("SELECT 1").fetchone()[0] == 1
        with pytest.raises(DatabaseError), database.transaction() as db:
            end(db.execute("SELECT pg_backend_pid()").fetchone()[0])
            db.execute(LOCK, ("lost", "me", 1))
        with pytest.raises(DatabaseError), database.transaction() as db, db.savepoint():
            end(db.execute("SELECT pg_backend_pid()").fetchone()[0])
            db.execute(LOCK, ("lost in a savepoint", "me", 1))
        # A failed statement whose error is caught: PostgreSQL would take the COMMIT as a
        # ROLLBACK; the caller is told, not left believing it written.
        with pytest.raises(DatabaseError), database.transaction() as db:
            db.execute(LOCK, ("not written", "me", 1))
            with pytest.raises(DatabaseError):
                db.execute(LOCK, ("not written", "me", 1))
        with database.transaction() as db:
            db.execute(LOCK, ("next", "me", 1))
        with database.connect() as db:
            assert [row[0] for row in db.execute("SELECT name FROM job_locks")] == ["next"]
    finally:
        admin.close()
        database.dispose()
        next(schemas, None)
