"""The portal as separate server processes, configured the way a shop configures it: CPP_*
environment variables, production mode, a real WSGI server."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import requests

from .conftest import TEST_CREDENTIALS

ROOT = Path(__file__).resolve().parents[1]


def production_env(sandbox_url: str, mail_port: int, database: Path, public_url: str,
                   **settings: str) -> dict[str, str]:
    """CPP_* variables pointing a portal at the test's sandbox PIMS and Cayan and SMTP server."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "CPP_SECRET_KEY": "test-secret-key-not-for-production",
        "CPP_PUBLIC_URL": public_url,
        "CPP_DATABASE": str(database),
        "CPP_PIMS_URL": sandbox_url + "/sandbox/pims",
        "CPP_PIMS_USERNAME": TEST_CREDENTIALS["SANDBOX_PIMS_USERNAME"],
        "CPP_PIMS_PASSWORD": TEST_CREDENTIALS["SANDBOX_PIMS_PASSWORD"],
        "CPP_CAYAN_MERCHANT_NAME": TEST_CREDENTIALS["SANDBOX_CAYAN_MERCHANT_NAME"],
        "CPP_CAYAN_MERCHANT_SITE_ID": TEST_CREDENTIALS["SANDBOX_CAYAN_MERCHANT_SITE_ID"],
        "CPP_CAYAN_MERCHANT_KEY": TEST_CREDENTIALS["SANDBOX_CAYAN_MERCHANT_KEY"],
        "CPP_CAYAN_TRANSPORT_URL": sandbox_url + "/sandbox/cayan/transport",
        "CPP_CAYAN_TRANSPORTWEB_URL": sandbox_url + "/sandbox/cayan/transportweb.aspx",
        "CPP_CAYAN_REPORTING_URL": sandbox_url + "/sandbox/cayan/reporting",
        "CPP_CAYAN_CREDIT_URL": sandbox_url + "/sandbox/cayan/credit",
        "CPP_MAIL_SERVER": "127.0.0.1", "CPP_MAIL_PORT": str(mail_port),
        "CPP_MAIL_DEFAULT_SENDER": "billing@shop.example",
        "CPP_RECONCILE_EVERY": "0",  # as for the tests' other portals (conftest)
    }
    env.update({f"CPP_{key}": value for key, value in settings.items()})
    return env


class ServerProcess:
    """A command that serves HTTP on `url`; started, waited for, stopped. Output goes to `log`."""

    def __init__(self, command: list[str], env: dict, url: str, log: Path):
        self.command, self.env, self.url, self.log = command, env, url, log
        self.process: subprocess.Popen | None = None

    def start(self, ready_path: str = "/login") -> ServerProcess:
        with open(self.log, "ab") as output:
            self.process = subprocess.Popen(self.command, cwd=ROOT, env=self.env, stdout=output,
                                            stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.command[:3]} exited: {self.output()[-2000:]}")
            try:
                requests.get(self.url + ready_path, timeout=1, allow_redirects=False)
                return self
            except (requests.ConnectionError, requests.Timeout):
                # Not listening yet, or listening (gunicorn's master) with workers still booting.
                time.sleep(0.1)
        self.stop()  # never leave a half-started server behind
        raise RuntimeError(f"{self.command[:3]} did not start: {self.output()[-2000:]}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def waitress_portal(env: dict, port: int, log: Path) -> ServerProcess:
    """README's production command: python -m cpp.serve."""
    return ServerProcess([sys.executable, "-m", "cpp.serve", "--listen", f"127.0.0.1:{port}",
                          "--threads", "8"], env, f"http://127.0.0.1:{port}", log)


def gunicorn_portal(env: dict, port: int, log: Path, workers: int = 2) -> ServerProcess:
    """README's Linux command: gunicorn -w 2 app:app."""
    return ServerProcess([sys.executable, "-m", "gunicorn", "-w", str(workers), "--threads", "4",
                          "-b", f"127.0.0.1:{port}", "app:app"], env, f"http://127.0.0.1:{port}",
                         log)
