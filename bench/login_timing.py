"""Does login take the same time for a known account with a wrong password as for an unknown one?

Prints the median time of each over real HTTP (portal -> sandbox PIMS over SOAP), and their ratio.
A ratio near 1.0 means response time does not reveal which account numbers exist. Machines here
are shared and noisy, so this compares within one run instead of asserting absolute times.

    python bench/login_timing.py [--rounds 40]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cpp import create_app  # noqa: E402
from cpp.sandbox import create_sandbox_app  # noqa: E402
from tests.conftest import TEST_CREDENTIALS, Sandbox, Smtp, portal_config  # noqa: E402
from tests.live import LiveServer  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=40)
    rounds = parser.parse_args().rounds
    with tempfile.TemporaryDirectory() as tmp:
        sandbox_app = create_sandbox_app(tmp + "/sandbox", ("pims", "cayan"), TEST_CREDENTIALS)
        server = LiveServer(sandbox_app)
        sandbox = Sandbox(server.url, sandbox_app.extensions["sandbox_pims"],
                          sandbox_app.extensions["sandbox_cayan"], server)
        config = portal_config(sandbox, Smtp(25, None), Path(tmp), WTF_CSRF_ENABLED=False,
                               LOGIN_ACCOUNT_LIMIT="100000 per minute",
                               LOGIN_ADDRESS_LIMIT="100000 per minute")
        client = create_app(config).test_client()
        timings = {"known": [], "unknown": []}
        for round_number in range(rounds):
            for kind, account in (("known", "M-1000"), ("unknown", f"NOPE-{round_number}")):
                started = time.perf_counter()
                response = client.post("/login", data={"account": account, "password": "wrong"})
                timings[kind].append(time.perf_counter() - started)
                assert response.status_code == 400
        server.stop()
    known, unknown = (statistics.median(timings[k]) * 1000 for k in ("known", "unknown"))
    print(f"login, wrong password, known account:   median {known:.1f} ms over {rounds}")
    print(f"login, wrong password, unknown account: median {unknown:.1f} ms over {rounds}")
    print(f"ratio known/unknown: {known / unknown:.2f} (1.00 = indistinguishable)")


if __name__ == "__main__":
    main()
