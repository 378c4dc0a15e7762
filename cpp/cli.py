"""Command-line tools: `flask --app app sandbox ...` and `flask --app app cpp ...`."""
from __future__ import annotations

import os

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from werkzeug.serving import run_simple

sandbox_cli = AppGroup("sandbox", help="Run the built-in sandbox services on their own.")


def serve_sandbox(services: tuple[str, ...], host: str, port: int, data_dir: str) -> None:
    from .sandbox import SANDBOX_DEFAULTS, create_sandbox_app

    app = create_sandbox_app(data_dir, services)
    click.echo(f"Sandbox {' + '.join(services)} on http://{host}:{port}/sandbox/ "
               f"(data in {data_dir})")
    for key, value in SANDBOX_DEFAULTS.items():
        click.echo(f"  accepts {key.removeprefix('SANDBOX_')} = {value}")
    # run_simple, not app.run: Flask ignores app.run() inside a `flask` command.
    run_simple(host, port, app, threaded=True, use_reloader=False)


def sandbox_options(function):
    function = click.option("--host", default="127.0.0.1", show_default=True)(function)
    function = click.option("--data-dir", default=os.path.join("instance", "sandbox"),
                            show_default=True, help="where the sandbox keeps its SQLite data")(function)
    return function


@sandbox_cli.command("pims")
@sandbox_options
@click.option("--port", default=8081, show_default=True)
def sandbox_pims(host: str, port: int, data_dir: str) -> None:
    """The sandbox PIMS Web Services Module (SOAP at /sandbox/pims)."""
    serve_sandbox(("pims",), host, port, data_dir)


@sandbox_cli.command("cayan")
@sandbox_options
@click.option("--port", default=8082, show_default=True)
def sandbox_cayan(host: str, port: int, data_dir: str) -> None:
    """The sandbox Cayan: Transport, Reporting, Credit (SOAP) and the hosted card page."""
    serve_sandbox(("cayan",), host, port, data_dir)


@sandbox_cli.command("all")
@sandbox_options
@click.option("--port", default=8081, show_default=True)
def sandbox_all(host: str, port: int, data_dir: str) -> None:
    """PIMS and Cayan sandboxes together on one port."""
    serve_sandbox(("pims", "cayan"), host, port, data_dir)


cpp_cli = AppGroup("cpp", help="Shop staff tools: payments, reconciliation, staff accounts, checks.")


@cpp_cli.command("reconcile")
@click.option("--all", "force", is_flag=True,
              help="retry everything now, ignoring backoff and quiet periods")
def reconcile_command(force: bool) -> None:
    """Finish half-done payments: look up abandoned ones, post, void, send receipts."""
    from .payments.reconcile import reconcile

    outcome = reconcile(force=force)
    if outcome["skipped"]:
        busy = ("Another process is reconciling right now (a portal's background job, or "
                "another run of this command).")
        if force:  # a person asked for everything now: say plainly it did not happen
            raise click.ClickException(busy + " Nothing was done; try again in a minute.")
        # A scheduled run beside the portal's own job (RECONCILE_EVERY): the pass under way
        # does the work, and a scheduler should not report a failure.
        click.echo(busy + " It does the work; this run did nothing.")
        return
    for key in sorted(outcome):
        click.echo(f"{key}: {outcome[key]}")
    if outcome["errors"]:
        # Everything else was done; a non-zero exit makes the scheduler show it.
        raise click.ClickException(f"{outcome['errors']} payment(s) failed unexpectedly; "
                                   "the log says why. All other payments were reconciled.")


@cpp_cli.command("retry")
@click.argument("reference")
def retry_command(reference: str) -> None:
    """Try a needs-attention payment again: post it to PIMS (or void a wrong-amount charge)."""
    from .payments import staff
    from .payments.ledger import get_ledger

    payment = get_ledger().get(reference.upper())
    if payment is None:
        raise click.ClickException(f"No payment with reference {reference}.")
    try:
        payment = staff.retry_for_staff(payment)
    except staff.PaymentBusy:
        raise click.ClickException(f"{payment.reference} is being worked on right now (the "
                                   "dashboard or the reconcile job); try again in a minute.") \
            from None
    click.echo(f"{payment.reference}: {payment.state}"
               + (f" ({payment.failure_reason})" if payment.state == "needs_attention" else ""))


@cpp_cli.command("payments")
@click.option("--needs-attention", is_flag=True, help="only payments staff must look at")
@click.option("--limit", default=50, show_default=True)
def payments_command(needs_attention: bool, limit: int) -> None:
    """Recent payments: reference, state, amount, customer, invoices."""
    from .payments import states
    from .payments.ledger import get_ledger

    ledger = get_ledger()
    if needs_attention:
        payments = ledger.find(states=(states.NEEDS_ATTENTION,), limit=limit)
        payments += ledger.find(states=(states.POSTED,), receipt_statuses=("failed",),
                                limit=limit)
    else:
        payments = ledger.find(limit=limit)
    if not payments:
        click.echo("No payments." if not needs_attention else "Nothing needs attention.")
        return
    click.echo(f"{'REFERENCE':9} {'STATE':16} {'AMOUNT':>10} {'CUSTOMER':10} {'RECEIPT':8} "
               f"{'CREATED (UTC)':16} INVOICES")
    for p in payments:
        click.echo(f"{p.reference:9} {p.state:16} {p.amount:>10} {p.customer_code:10} "
                   f"{p.receipt_status:8} {p.created_at:%Y-%m-%d %H:%M} "
                   f"{', '.join(p.invoice_numbers)}")
        if needs_attention:
            click.echo(f"          reason: {p.failure_reason or p.receipt_status}; card "
                       f"{p.card_type} {p.card_last4}, auth {p.authorization_code}, "
                       f"Cayan token {p.cayan_token}, email {p.customer_email}")


@cpp_cli.command("payment")
@click.argument("reference")
def payment_command(reference: str) -> None:
    """One payment and its full history."""
    from .payments.ledger import get_ledger

    ledger = get_ledger()
    payment = ledger.get(reference.upper())
    if payment is None:
        raise click.ClickException(f"No payment with reference {reference}.")
    click.echo(f"{payment.reference}: {payment.state}, {payment.amount} from "
               f"{payment.customer_code} ({payment.customer_name}), invoices "
               f"{', '.join(payment.invoice_numbers)}; PIMS {payment.pims_payment_id}; "
               f"receipt {payment.receipt_status}")
    for event in ledger.events(payment.id):
        click.echo(f"  {event['at']}  {event['from_state'] or '-':>15} -> {event['to_state']:15} "
                   f"{event['reason']}  [{event['actor']}]")


@cpp_cli.group("db")
def db_group() -> None:
    """The portal's database schema (the ledger, sessions, login counters)."""


@db_group.command("upgrade")
def db_upgrade_command() -> None:
    """Bring the database's schema up to date (PostgreSQL: run once per release; SQLite
    upgrades itself when the portal starts)."""
    from . import migrate

    database = current_app.extensions["database"]
    before = migrate.current(database)
    after = migrate.upgrade(database)
    click.echo(f"Database schema: {before or 'empty'} -> {after}"
               if before != after else f"Database schema already at {after}.")


@cpp_cli.command("check")
def check_command() -> None:
    """Check PIMS, Cayan and the mail server with the configured credentials (installation day)."""
    from .staff.health import run_checks

    checks = run_checks()
    for check in checks:
        click.echo(f"{'OK  ' if check.ok else 'FAIL'} {check.name:12} {check.milliseconds:>6} ms  "
                   f"{check.detail}")
    failed = [check.name for check in checks if not check.ok]
    if failed:
        raise click.ClickException("Not working: " + ", ".join(failed) + ".")


@cpp_cli.command("link")
@click.argument("customer")
@click.argument("invoices", nargs=-1)
@click.option("--days", type=click.IntRange(1, 366), default=None,
              help="how long the link works (default LINK_DAYS, 30)")
def link_command(customer: str, invoices: tuple[str, ...], days: int | None) -> None:
    """A pay link for CUSTOMER (all their open invoices, or only INVOICES), to send them."""
    import datetime as dt

    from .links.make import LinkProblem, make_link

    try:
        made = make_link(customer, invoices, days)
    except LinkProblem as exc:
        raise click.ClickException(str(exc)) from None
    for number in made.not_open:
        click.echo(f"Note: {number} is not an open invoice of {made.customer.code} now; the "
                   "link will not show it.", err=True)
    click.echo(made.url)
    until = dt.datetime.fromtimestamp(made.link.expires_at, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    click.echo(f"For {made.customer.name} ({made.customer.code}); works until {until}; link id "
               f"{made.link.link_id} (add it to LINK_REVOKED to take this link back).", err=True)


@cpp_cli.group("staff")
def staff_group() -> None:
    """Staff accounts for the dashboard at /staff."""


def account_command(action):
    """Run an account change, turning a refusal into a plain message and exit status 1."""
    from .staff.accounts import AccountError

    try:
        return action()
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None


@staff_group.command("add")
@click.argument("email")
@click.option("--role", type=click.Choice(["owner", "staff"]), default="staff", show_default=True)
@click.password_option("--password", help="asked for twice when not given")
def staff_add(email: str, role: str, password: str) -> None:
    """Add a person who can sign in to the dashboard."""
    from .staff import accounts, activity

    account = account_command(lambda: accounts.add(email, password, role))
    activity.record("added staff", f"{account.email} as {role}", who="command line")
    click.echo(f"{account.email} can now sign in at /staff as {role}."
               + (" Two-factor is set up at the first sign-in." if role == "owner" else ""))


@staff_group.command("list")
def staff_list() -> None:
    """Everyone with a dashboard account."""
    from .staff import accounts

    people = accounts.all_accounts()
    if not people:
        click.echo("No staff accounts yet: flask --app app cpp staff add EMAIL --role owner")
    for person in people:
        click.echo(f"{person.email:40} {person.role:6} "
                   f"{'2FA on ' if person.two_factor else '2FA off'} "
                   f"{'DISABLED' if person.disabled else 'active':8} "
                   f"last sign-in {person.last_sign_in_at or 'never'}")


@staff_group.command("disable")
@click.argument("email")
def staff_disable(email: str) -> None:
    """Stop an account from signing in (its open sessions end at their next page)."""
    set_disabled(email, True)


@staff_group.command("enable")
@click.argument("email")
def staff_enable(email: str) -> None:
    """Let a disabled account sign in again."""
    set_disabled(email, False)


def set_disabled(email: str, disabled: bool) -> None:
    from .staff import accounts, activity

    account_command(lambda: accounts.set_disabled(email, disabled))
    word = "disabled" if disabled else "enabled"
    activity.record(f"{word} staff", email, who="command line")
    click.echo(f"{email} is {word}.")


@staff_group.command("reset-password")
@click.argument("email")
@click.password_option("--password", help="asked for twice when not given")
def staff_reset_password(email: str, password: str) -> None:
    """Give an account a new password."""
    from .staff import accounts, activity

    account_command(lambda: accounts.set_password(email, password))
    activity.record("reset password", email, who="command line")
    click.echo(f"{email} has a new password.")


@staff_group.command("reset-2fa")
@click.argument("email")
def staff_reset_two_factor(email: str) -> None:
    """Forget an account's authenticator (a lost phone); it sets one up at the next sign-in."""
    from .staff import accounts, activity

    account_command(lambda: accounts.reset_two_factor(email))
    activity.record("reset two-factor", email, who="command line")
    click.echo(f"{email}'s two-factor is reset.")


@staff_group.command("allow-ip")
@click.argument("address")
def staff_allow_ip(address: str) -> None:
    """Add an address (or range) to the dashboard's allowlist: the way back in after a lock-out."""
    from . import shop_settings
    from .proxy import parse_networks
    from .staff import activity

    try:
        parse_networks([address])
    except ValueError:
        raise click.ClickException(f"{address} is not an address or range.") from None
    allowed = list(current_app.config.get("STAFF_ALLOWED_IPS") or [])
    if not allowed:
        click.echo("The dashboard is open to any address already; nothing to do.")
        return
    if address not in allowed:
        shop_settings.save({"STAFF_ALLOWED_IPS": [*allowed, address]}, "command line")
        activity.record("changed settings", f"STAFF_ALLOWED_IPS + {address}", who="command line")
    click.echo(f"{address} may open the dashboard.")


def register_commands(app: Flask) -> None:
    app.cli.add_command(sandbox_cli)
    app.cli.add_command(cpp_cli)
