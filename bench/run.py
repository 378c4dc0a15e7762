"""How much time and memory does the portal add on top of PIMS and Cayan?

    python bench/run.py [--quick]

Starts the standalone sandbox PIMS and Cayan (waitress, in their own process), the portal in a
production configuration under waitress (`python -m cpp.serve`, its own process), and a bare
Flask page that makes the same SOAP call as the invoices page and nothing else. Every figure is
measured side by side in the same run and reported as a ratio, because these machines are
shared and noisy: compare ratios, not milliseconds. Progress goes to stderr; the result is one
JSON line on stdout. Not a test: it asserts nothing.

Throughput uses wrk (8 connections) when it is installed (`apt-get install wrk`), otherwise
8 Python threads with keep-alive sessions; the JSON says which. During those runs it also
reads each server's CPU time from /proc: the CPU milliseconds one invoices page costs the
portal, against one bare page, is the steadiest figure on a noisy machine.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from html import unescape
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cpp import migrate  # noqa: E402
from cpp.cayan.client import CayanClient  # noqa: E402
from cpp.database import Database  # noqa: E402
from cpp.payments import record, states  # noqa: E402
from cpp.payments.ledger import Ledger, PaymentInvoice  # noqa: E402
from cpp.pims.client import PimsClient  # noqa: E402
from cpp.pims.models import Allocation, PaymentToApply  # noqa: E402
from cpp.sandbox.demo_data import seed  # noqa: E402
from cpp.sandbox.faults import FaultInjector  # noqa: E402
from cpp.sandbox.mailbox import MailboxStore, start_smtp  # noqa: E402
from cpp.sandbox.pims_store import PimsStore  # noqa: E402
from tests.conftest import TEST_CREDENTIALS, postgresql_schema  # noqa: E402
from tests.live import free_port  # noqa: E402
from tests.processes import ServerProcess, production_env, waitress_portal  # noqa: E402
from tests.visitor import INVOICE_BOX, Visitor  # noqa: E402

APPROVE = "4012000033330026"
VISIT_CUSTOMERS = 60  # each full visit pays one invoice of its own customer


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def p50(samples: list[float]) -> float:
    return statistics.median(samples)


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


# -- Setting up -------------------------------------------------------------------------------

def seed_sandbox(data_dir: Path) -> None:
    """The demo's customers, plus bench customers B-0000… with seven invoices each."""
    data_dir.mkdir(parents=True)
    store = PimsStore(str(data_dir / "sandbox-pims.sqlite3"))
    seed(store)
    today = dt.date.today()
    with store.transaction() as db:
        for c in range(VISIT_CUSTOMERS + 1):
            code = f"B-{c:04d}"
            store.add_customer(db, code, "demo", f"Bench Customer {c}", f"b{c}@bench.example",
                               "MAIN")
            for i in range(7):
                store.add_invoice(db, f"BI-{c:04d}-{i}", code, today - dt.timedelta(days=10),
                                  today + dt.timedelta(days=20), "MAIN" if i % 2 else "WEST",
                                  f"SRO-{c}-{i}", f"Bench repair {i}", Decimal("49.95") + i)


def recorder(service) -> list[tuple[str, bytes, dict]]:
    """Record what a zeep service posts (URL, envelope bytes, headers), to replay it raw."""
    transport = service._client.transport
    calls: list[tuple[str, bytes, dict]] = []
    original = transport.post

    def post(address, message, headers):
        calls.append((address, message, dict(headers)))
        return original(address, message, headers)

    transport.post = post
    return calls


class Raw:
    """One recorded SOAP request, posted again with plain requests."""

    def __init__(self, call: tuple[str, bytes, dict]):
        self.url, self.body, self.headers = call
        self.session = requests.Session()
        self.session.trust_env = False

    def __call__(self) -> None:
        _ = self.session.post(self.url, data=self.body, headers=self.headers, timeout=30).content


def record_upstream(sandbox_url: str) -> dict[str, Raw]:
    """Every SOAP request of one full visit, made once by the portal's own clients."""
    pims = PimsClient(sandbox_url + "/sandbox/pims", TEST_CREDENTIALS["SANDBOX_PIMS_USERNAME"],
                      TEST_CREDENTIALS["SANDBOX_PIMS_PASSWORD"], 10)
    cayan = CayanClient({
        "CAYAN_TIMEOUT": 10,
        "CAYAN_MERCHANT_NAME": TEST_CREDENTIALS["SANDBOX_CAYAN_MERCHANT_NAME"],
        "CAYAN_MERCHANT_SITE_ID": TEST_CREDENTIALS["SANDBOX_CAYAN_MERCHANT_SITE_ID"],
        "CAYAN_MERCHANT_KEY": TEST_CREDENTIALS["SANDBOX_CAYAN_MERCHANT_KEY"],
        "CAYAN_TRANSPORT_URL": sandbox_url + "/sandbox/cayan/transport",
        "CAYAN_REPORTING_URL": sandbox_url + "/sandbox/cayan/reporting",
        "CAYAN_CREDIT_URL": sandbox_url + "/sandbox/cayan/credit",
    })
    pims_calls = recorder(pims._service)
    transport_calls, reporting_calls = recorder(cayan._transport), recorder(cayan._reporting)
    spare = f"B-{VISIT_CUSTOMERS:04d}"
    pims.authenticate_customer(spare, "demo")
    pims.get_open_invoices("M-1000")
    pims.get_open_invoices("M-3000")
    cayan.create_transaction(amount=Decimal("49.95"), order_number="BENCH001",
                             transaction_id="bench-0001", redirect_location="http://x/return",
                             customer_code=spare, dba="Bench", logo_location=None)
    cayan.transactions_by_transaction_id("bench-0001")
    pims.apply_payment(PaymentToApply(
        reference="BENCH001", customer_code=spare,
        allocations=(Allocation(f"BI-{VISIT_CUSTOMERS:04d}-0", Decimal("49.95")),),
        paid_at=dt.datetime.now(dt.UTC), card_type="Visa", card_last4="0026",
        authorization_code="123456", cayan_token="bench-token"))  # noqa: S106 - a sandbox token
    return {"AuthenticateCustomer": Raw(pims_calls[0]), "GetOpenInvoices": Raw(pims_calls[1]),
            "GetOpenInvoices300": Raw(pims_calls[2]), "CreateTransaction": Raw(transport_calls[0]),
            "TransactionsByTransactionId": Raw(reporting_calls[0]),
            "ApplyPayment": Raw(pims_calls[3])}


# -- Measuring --------------------------------------------------------------------------------

def side_by_side(rounds: int, **actions: Callable[[], object]) -> dict[str, float]:
    """p50 of each action, interleaved round by round so that noise hits all alike."""
    samples: dict[str, list[float]] = {name: [] for name in actions}
    for _ in range(rounds):
        for name, action in actions.items():
            samples[name].append(timed(action))
    return {name: p50(values) for name, values in samples.items()}


def throughput(urls: list[str], cookie: str | None, seconds: float) -> tuple[float, str]:
    """Requests per second over 8 keep-alive connections, shared out over `urls`."""
    if shutil.which("wrk"):
        per_url = max(1, 8 // len(urls))
        wrk = shutil.which("wrk")
        runs = [subprocess.Popen(  # noqa: S603 - our own arguments, wrk found on PATH
            [wrk, "-t", str(min(2, per_url)), "-c", str(per_url), "-d", f"{seconds:.0f}s",
             *(["-H", f"Cookie: session={cookie}"] if cookie else []), url],
            stdout=subprocess.PIPE, text=True) for url in urls]
        total = 0.0
        for run in runs:
            output = run.communicate()[0]
            total += float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
        return total, "wrk"
    done = [0] * 8
    deadline = time.monotonic() + seconds

    def worker(index: int) -> None:
        session = requests.Session()
        session.trust_env = False
        if cookie:
            session.cookies.set("session", cookie)
        url = urls[index % len(urls)]
        while time.monotonic() < deadline:
            _ = session.get(url, timeout=30, allow_redirects=False).content
            done[index] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(done) / seconds, "python threads"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_per_request(pids: dict[str, int], load: Callable[[], float], seconds: float
                    ) -> tuple[float, dict[str, float]]:
    """Run `load` (returns requests/s) and say, per process, the CPU milliseconds each request
    cost it: steadier than any time on a shared machine, and free of the load tool's share."""
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    rps = load()
    requests_made = rps * seconds
    return rps, {name: (cpu_seconds(pid) - before[name]) * 1000 / requests_made
                 for name, pid in pids.items()}


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024


def browse(base: str, visits: int) -> None:
    """`visits` times: log in, see the invoices, log out; 8 at a time."""
    def one(count: int) -> None:
        for _ in range(count):
            visitor = Visitor(base)
            visitor.login("M-1000")
            visitor.post_form("/logout", {})

    threads = [threading.Thread(target=one, args=(visits // 8,)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


# The visit's requests to the portal, by method and path: where its own time goes.
VISIT_STEPS = {("GET", "/login"): "login_page", ("POST", "/login"): "log_in",
               ("GET", "/invoices"): "invoices", ("POST", "/pay"): "pay_bill",
               ("GET", "/pay/return"): "return", ("GET", "/payments/"): "result"}
VISIT_UPSTREAM = ("AuthenticateCustomer", "GetOpenInvoices", "GetOpenInvoices",
                  "CreateTransaction", "TransactionsByTransactionId", "ApplyPayment")


def visit_step(response: requests.Response) -> str | None:
    path = response.request.path_url.split("?")[0]
    for (method, prefix), name in VISIT_STEPS.items():
        if response.request.method == method and (path == prefix or prefix.endswith("/")
                                                   and path.startswith(prefix)):
            return name
    return None


def full_visits(base: str, count: int, upstream: dict[str, Raw]) -> dict:
    """Log in, invoices, Pay Bill, card page, return, result: the whole visit, `count` times,
    each interleaved with one raw round of the upstream calls the visit waits for. The receipt
    email is not one of them: it goes out after the result page (cpp.payments.receipt_sender).
    Also each step's own p50 (the portal's answer to that request, upstream calls included),
    and each upstream call's, to say which steps add the most."""
    visit_times, upstream_times = [], []
    steps: dict[str, list[float]] = {name: [] for name in VISIT_STEPS.values()}
    calls: dict[str, list[float]] = {name: [] for name in VISIT_UPSTREAM}

    def record_step(response: requests.Response, *args, **kwargs) -> None:
        name = visit_step(response)
        if name is not None:
            steps[name].append(response.elapsed.total_seconds())

    for c in range(count):
        visitor = Visitor(base)
        visitor.session.hooks["response"].append(record_step)
        start = time.perf_counter()
        invoices_page = visitor.login(f"B-{c:04d}")  # lands on the invoices page
        # Pay Bill from that page, as a browser does (Visitor.pay would fetch it once more).
        ticks = [unescape(value) for value in INVOICE_BOX.findall(invoices_page.text)
                 if value.startswith(f"BI-{c:04d}-0|")]
        pressed = visitor.pay_bill(ticks)
        assert pressed.status_code == 303, pressed.text[:500]
        card_page = pressed.headers["Location"]
        card_start = time.perf_counter()
        back = visitor.card_page(card_page, APPROVE)
        card_time = time.perf_counter() - card_start
        result = visitor.follow(back)
        visit_times.append(time.perf_counter() - start)
        assert "Thank you" in result.text, result.text[:500]
        soap = 0.0
        for name in VISIT_UPSTREAM:
            took = timed(upstream[name])
            calls[name].append(took)
            soap += took
        upstream_times.append(soap + card_time)
    return {"visit_p50_ms": p50(visit_times) * 1000, "upstream_p50_ms": p50(upstream_times) * 1000,
            "visit_steps_p50_ms": {name: round(p50(times) * 1000, 1)
                                   for name, times in steps.items() if times},
            "upstream_calls_p50_ms": {name: round(p50(times) * 1000, 1)
                                      for name, times in calls.items()}}


def ledger_rate(setting: str, payments: int) -> float:
    """Payments per second through create, stage, approve and post, on one ledger."""
    database = Database(setting, 10.0)
    migrate.upgrade(database)
    ledger = Ledger(database)
    start = time.perf_counter()
    for n in range(payments):
        reference, _ = record.create(
            ledger, "bench", customer_code="B", customer_name="Bench", customer_email=None,
            invoices=[PaymentInvoice(f"L-{n}", Decimal("10.00"), "MAIN", None, None)])
        payment = ledger.get(reference)
        record.transition(ledger, payment.id, states.NEW, states.STAGED, "staged",
                          transport_key=f"tk-{n}", validation_key="vk")
        record.transition(ledger, payment.id, states.STAGED, states.APPROVED, "approved",
                          cayan_token="bench-token", approved_cents=1000)  # noqa: S106
        record.transition(ledger, payment.id, states.APPROVED, states.POSTED, "posted",
                          pims_payment_id=f"P{n}")
    rate = payments / (time.perf_counter() - start)
    database.dispose()
    return rate


def postgresql_ledger_rate(payments: int) -> float | None:
    """The same on the PostgreSQL server the tests use, in a schema of its own; None without one."""
    schemas = postgresql_schema()
    try:
        url = next(schemas)
    except BaseException:  # noqa: BLE001 - pytest.skip outside pytest: no server here
        return None
    try:
        return ledger_rate(url, payments)
    finally:
        next(schemas, None)


# -- The run ----------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer rounds, for a smoke run")
    quick = parser.parse_args().quick
    rounds, visits, seconds, full = (30, 100, 3, 10) if quick else (200, 1000, 10, 40)
    result: dict[str, object] = {"quick": quick}
    processes: list[ServerProcess] = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        try:
            seed_sandbox(tmp / "sandbox")
            mail = start_smtp(MailboxStore(str(tmp / "mail.sqlite3")), FaultInjector())
            sandbox_port, portal_port, second_port, bare_port = (free_port() for _ in range(4))
            sandbox_url = f"http://127.0.0.1:{sandbox_port}"
            processes.append(ServerProcess(
                [sys.executable, "bench/servers.py", "sandbox", str(sandbox_port),
                 str(tmp / "sandbox")], {"PATH": "/usr/bin:/bin"}, sandbox_url,
                tmp / "sandbox.log").start("/sandbox/cayan/transportweb.aspx"))
            say("recording the upstream calls of one visit")
            upstream = record_upstream(sandbox_url)
            envelope = upstream["GetOpenInvoices"]
            (tmp / "envelope.json").write_text(json.dumps(
                {"body": envelope.body.decode(), "headers": envelope.headers}))
            processes.append(ServerProcess(
                [sys.executable, "bench/servers.py", "bare", str(bare_port),
                 sandbox_url + "/sandbox/pims", str(tmp / "envelope.json")],
                {"PATH": "/usr/bin:/bin"}, f"http://127.0.0.1:{bare_port}",
                tmp / "bare.log").start("/"))
            env = production_env(sandbox_url, mail.port, tmp / "ledger.sqlite3",
                                 f"http://127.0.0.1:{portal_port}",
                                 LOGIN_ACCOUNT_LIMIT="1000000 per minute",
                                 LOGIN_ADDRESS_LIMIT="1000000 per minute", LOG_LEVEL="WARNING")
            portal = waitress_portal(env, portal_port, tmp / "portal.log").start()
            processes.append(portal)
            base = portal.url

            say("invoices page against its own SOAP round trip")
            seven, three_hundred = Visitor(base), Visitor(base)
            seven.login("M-1000")
            three_hundred.login("M-3000")
            bare_session, bare_url = requests.Session(), f"http://127.0.0.1:{bare_port}/"
            bare_session.trust_env = False
            times = side_by_side(
                rounds, page_7=lambda: seven.get("/invoices").content, raw_7=envelope,
                page_300=lambda: three_hundred.get("/invoices").content,
                raw_300=upstream["GetOpenInvoices300"],
                bare=lambda: bare_session.get(bare_url, timeout=30).content)
            result.update({f"{k}_p50_ms": round(v * 1000, 2) for k, v in times.items()})
            result["invoices_page_vs_raw_soap"] = round(times["page_7"] / times["raw_7"], 2)
            result["page_300_vs_page_7"] = round(times["page_300"] / times["page_7"], 2)
            result["page_300_vs_its_raw_soap"] = round(times["page_300"] / times["raw_300"], 2)
            # What the portal itself adds to each page, PIMS's own time taken out: the sandbox
            # PIMS's speed moves the 300 ÷ 7 ratio, but not these.
            result["portal_adds_to_7_ms"] = round((times["page_7"] - times["raw_7"]) * 1000, 2)
            result["portal_adds_to_300_ms"] = round((times["page_300"] - times["raw_300"]) * 1000,
                                                    2)
            # The floor under the first ratio: a Flask page under waitress that makes the same
            # SOAP call and nothing else. No page of the portal can come in under it.
            result["bare_page_vs_raw_soap"] = round(times["bare"] / times["raw_7"], 2)

            say("throughput: the invoices page against the bare page")
            cookie = seven.session.cookies.get("session")
            sandbox_pid, bare_pid = processes[0].process.pid, processes[1].process.pid
            tool = throughput([base + "/invoices"], cookie, 1)[1]  # and warm up
            portal_rps, portal_cpu = cpu_per_request(
                {"portal": portal.process.pid, "sandbox": sandbox_pid},
                lambda: throughput([base + "/invoices"], cookie, seconds)[0], seconds)
            bare_rps, bare_cpu = cpu_per_request(
                {"bare": bare_pid, "sandbox": sandbox_pid},
                lambda: throughput([f"http://127.0.0.1:{bare_port}/"], None, seconds)[0], seconds)
            result.update(load_tool=tool, invoices_rps=round(portal_rps, 1),
                          bare_rps=round(bare_rps, 1),
                          invoices_rps_vs_bare=round(portal_rps / bare_rps, 2),
                          portal_cpu_ms_per_page=round(portal_cpu["portal"], 2),
                          bare_cpu_ms_per_page=round(bare_cpu["bare"], 2),
                          sandbox_cpu_ms_per_page=round(portal_cpu["sandbox"], 2))

            say("full visits against the sum of their upstream round trips")
            visit = full_visits(base, full, upstream)
            result.update({k: round(v, 1) if isinstance(v, float) else v
                           for k, v in visit.items()})
            result["visit_vs_upstream"] = round(visit["visit_p50_ms"] / visit["upstream_p50_ms"], 2)

            say(f"memory: {visits} visits, then {visits} more")
            browse(base, visits)
            after_first = rss_mb(portal.process.pid)
            browse(base, visits)
            after_second = rss_mb(portal.process.pid)
            result.update(rss_mb_after_visits=round(after_first, 1), visits=visits,
                          rss_growth_mb_next_visits=round(after_second - after_first, 1))

            say("two portal processes against one")
            second = waitress_portal({**env, "CPP_PUBLIC_URL": f"http://127.0.0.1:{second_port}"},
                                     second_port, tmp / "portal2.log").start()
            processes.append(second)
            one_rps, _ = throughput([base + "/invoices"], cookie, seconds)
            two_rps, _ = throughput([base + "/invoices", second.url + "/invoices"], cookie,
                                    seconds)
            result.update(one_process_rps=round(one_rps, 1), two_processes_rps=round(two_rps, 1),
                          two_vs_one_process=round(two_rps / one_rps, 2))

            say("the ledger's transitions")
            count = 100 if quick else 500
            result["ledger_payments_per_s_sqlite"] = round(
                ledger_rate(str(tmp / "bench-ledger.sqlite3"), count), 1)
            pg_rate = postgresql_ledger_rate(count)
            result["ledger_payments_per_s_postgresql"] = round(pg_rate, 1) if pg_rate else None
        finally:
            for process in reversed(processes):
                process.stop()
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
