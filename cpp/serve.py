"""The production server, the same command on Windows and Linux:

    python -m cpp.serve [--listen 127.0.0.1:8000] [--threads 8]

It runs the portal under waitress behind the shop's IIS or nginx. Which proxy headers to
believe is decided by the portal itself from TRUSTED_PROXIES (cpp.proxy), so waitress is told
to pass them through untouched rather than strip them: one setting, no second place to
disagree with it.
"""
from __future__ import annotations

import argparse
import sys

from . import ConfigError, create_app

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


def main(argv: list[str] | None = None) -> int:
    import waitress

    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        app = create_app()
    except ConfigError as exc:
        print(f"Configuration problem: {exc}", file=sys.stderr)
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
    waitress.serve(app, listen=" ".join(args.listen), threads=args.threads, ident=SERVER_NAME,
                   clear_untrusted_proxy_headers=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
