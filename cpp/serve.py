"""The production server, the same command on Windows and Linux:

    python -m cpp.serve [--listen 127.0.0.1:8000] [--threads 8]

It runs the portal under waitress behind the shop's IIS or nginx. Which proxy headers to
believe is decided by the portal itself from TRUSTED_PROXIES (cpp.proxy), so waitress is told
to pass them through untouched rather than strip them: one setting, no second place to
disagree with it.
"""
from __future__ import annotations

import argparse
import ctypes
import os
import signal
import sys

from flask import Flask

from . import ConfigError, create_app, migrate
from .config import load_config
from .database import Database

# The Server header names the product, never a version.
SERVER_NAME = "CPP"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m cpp.serve", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--listen", action="append",
                        help="address:port to listen on (default 127.0.0.1:8000, for a proxy on "
                             "this machine); may be given more than once")
    parser.add_argument("--threads", type=int, default=8, help="worker threads (default 8)")
    args = parser.parse_args(argv)
    args.listen = args.listen or ["127.0.0.1:8000"]
    return args


def fewer_malloc_arenas() -> None:
    """glibc gives threads that allocate at once arenas of their own, up to 8 per core. The
    portal's threads take turns (Python's GIL), so more arenas buy nothing and leave memory
    fragmented: about 5 MB more RSS after a thousand visits (bench/run.py). Linux with glibc
    only, and only before the threads start; MALLOC_ARENA_MAX in the environment wins."""
    if not sys.platform.startswith("linux") or "MALLOC_ARENA_MAX" in os.environ:
        return
    try:
        ctypes.CDLL("libc.so.6").mallopt(-8, 2)  # M_ARENA_MAX (malloc.h), 2 arenas
    except (OSError, AttributeError):
        pass  # not glibc (Alpine's musl has no arenas to limit)


def stop_gracefully_on_sigterm() -> None:
    """A service manager stops a service with SIGTERM (systemd, `kill`), which by default ends
    the process on the spot: requests cut off halfway, receipts still queued left for reconcile
    (cpp.payments.receipt_sender). As SystemExit it is an orderly stop, as Ctrl+C already is:
    waitress gives requests in progress up to 5 seconds (a longer one is cut off), then Python's
    exit sends the receipts still queued. A second SIGTERM is ignored, so that it cannot cut
    that short; SIGKILL still ends it. (On Windows, NSSM stops a service with Ctrl+C.)"""
    if hasattr(signal, "SIGTERM"):
        signal.signal(signal.SIGTERM, _exit_on_signal)


def _exit_on_signal(signum, frame) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise SystemExit(0)


def upgrade_sqlite_ledger_aside() -> None:
    """A SQLite ledger behind the code is upgraded at start; here, in a child process
    (cpp.migrate.upgrade_in_child), so this one never loads Alembic. PostgreSQL is upgraded by
    its command, never at start; a missing folder is create_app's to explain."""
    probe = Flask("cpp", instance_relative_config=True)  # create_app's instance folder
    load_config(probe, None)
    os.makedirs(probe.instance_path, exist_ok=True)  # as create_app does
    setting = probe.config["DATABASE"]
    if "://" in setting or not os.path.isdir(os.path.dirname(os.path.abspath(setting))):
        return
    database = Database(setting, probe.config["DATABASE_TIMEOUT"])
    try:
        behind = migrate.current(database) != migrate.head()
    finally:
        database.dispose()
    if behind:
        migrate.upgrade_in_child(setting, probe.config["DATABASE_TIMEOUT"])


def main(argv: list[str] | None = None) -> int:
    import waitress

    fewer_malloc_arenas()
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        upgrade_sqlite_ledger_aside()
        app = create_app()
    except ConfigError as exc:
        print(f"Configuration problem: {exc}", file=sys.stderr)
        return 2
    except migrate.UpgradeFailed as exc:
        print(f"Could not bring the ledger up to date: {exc}", file=sys.stderr)
        return 2
    if app.config["DEMO_MODE"]:
        print("No PIMS or Cayan settings found (instance/config.py or CPP_* variables), so this "
              "would be the demo. Run the demo with `python app.py`; see README.md to configure "
              "a shop.", file=sys.stderr)
        return 2
    if app.extensions.get("database_behind"):
        from .payments.ledger import DATABASE_BEHIND

        print(DATABASE_BEHIND, file=sys.stderr)
        return 2
    print(f"Customer Payment Portal for {app.config['PUBLIC_URL']} on {' '.join(args.listen)} "
          f"(trusting {app.config['TRUSTED_PROXIES']} proxy header hop(s))", flush=True)
    stop_gracefully_on_sigterm()
    waitress.serve(app, listen=" ".join(args.listen), threads=args.threads, ident=SERVER_NAME,
                   clear_untrusted_proxy_headers=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
