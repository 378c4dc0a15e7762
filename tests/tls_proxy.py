"""A real TLS-terminating proxy on loopback: Debian's nginx with docs/deploy/nginx.conf, only
its ports, certificate paths and the portal's port changed, and a throwaway certificate."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import trustme

from .live import free_port

ROOT = Path(__file__).resolve().parents[1]
SHIPPED_SITE = ROOT / "docs" / "deploy" / "nginx.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

MAIN_CONF = """
{user}
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 512; }}
http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
{site}
}}
"""


def site_for_test(portal_port: int, http_port: int, https_port: int, cert: Path,
                  key: Path) -> str:
    site = SHIPPED_SITE.read_text()
    changes = [
        ("    listen [::]:80;\n", ""),
        ("    listen [::]:443 ssl http2;\n", ""),
        ("listen 80;", f"listen 127.0.0.1:{http_port};"),
        ("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;"),
        ("https://$host$request_uri", f"https://$host:{https_port}$request_uri"),
        ("/etc/ssl/certs/pay.example.com.crt", str(cert)),
        ("/etc/ssl/private/pay.example.com.key", str(key)),
        ("http://127.0.0.1:8000", f"http://127.0.0.1:{portal_port}"),
    ]
    for old, new in changes:
        assert old in site, f"docs/deploy/nginx.conf no longer has {old!r}"
        site = site.replace(old, new)
    return site


class Nginx:
    def __init__(self, workdir: Path, portal_port: int):
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        authority = trustme.CA()
        issued = authority.issue_cert("127.0.0.1", "localhost")
        cert, key = self.dir / "cert.pem", self.dir / "key.pem"
        self.ca = self.dir / "ca.pem"  # for clients that verify the throwaway certificate
        authority.cert_pem.write_to_path(str(self.ca))
        issued.cert_chain_pems[0].write_to_path(str(cert))
        issued.private_key_pem.write_to_path(str(key))
        self.http_port, self.https_port = free_port(), free_port()
        self.url = f"https://127.0.0.1:{self.https_port}"
        self.http_url = f"http://127.0.0.1:{self.http_port}"
        site = site_for_test(portal_port, self.http_port, self.https_port, cert, key)
        # As root, nginx's workers would otherwise drop to 'nobody', who cannot read pytest's
        # private temporary folder.
        user = "user root;" if os.geteuid() == 0 else ""
        self.conf = self.dir / "nginx.conf"
        self.conf.write_text(MAIN_CONF.format(user=user, dir=self.dir, site=site))
        self.process: subprocess.Popen | None = None

    def start(self) -> Nginx:
        self.process = subprocess.Popen(
            [NGINX, "-p", str(self.dir), "-c", str(self.conf), "-e", str(self.dir / "error.log"),
             "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("nginx exited: " + (self.dir / "error.log").read_text())
            try:
                socket.create_connection(("127.0.0.1", self.https_port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("nginx did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
