"""The benchmark's other processes: the sandbox PIMS and Cayan, and a bare Flask page that makes
the same SOAP call as the invoices page and does nothing else (the yardstick for the portal's
own overhead). Each runs under waitress with 8 threads, as the portal does.

    python bench/servers.py sandbox PORT DATA_DIR
    python bench/servers.py bare PORT PIMS_URL ENVELOPE_FILE
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import requests
import waitress
from flask import Flask, Response

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def sandbox_app(data_dir: str) -> Flask:
    from cpp.sandbox import create_sandbox_app
    from tests.conftest import TEST_CREDENTIALS

    return create_sandbox_app(data_dir, ("pims", "cayan"), TEST_CREDENTIALS)


def bare_app(pims_url: str, envelope_file: str) -> Flask:
    """GET / posts the recorded GetOpenInvoices envelope to PIMS and answers with its size."""
    recorded = json.loads(Path(envelope_file).read_text())
    body, headers = recorded["body"].encode(), recorded["headers"]
    app = Flask("bare")
    session = requests.Session()
    session.trust_env = False

    @app.get("/")
    def page():
        answer = session.post(pims_url, data=body, headers=headers, timeout=10)
        return Response(f"{len(answer.content)} bytes from PIMS", mimetype="text/plain")

    return app


def main(argv: list[str]) -> None:
    kind, port = argv[0], int(argv[1])
    app = sandbox_app(argv[2]) if kind == "sandbox" else bare_app(argv[2], argv[3])
    waitress.serve(app, listen=f"127.0.0.1:{port}", threads=8, ident="bench")


if __name__ == "__main__":
    main(sys.argv[1:])
