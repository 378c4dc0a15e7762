"""A member of the shop's staff in a browser, as far as HTTP goes: signing in to /staff with a
password and, for owners, the authenticator code read off the enrolment page."""
from __future__ import annotations

import datetime as dt
import re

import pyotp

from .visitor import Visitor, text_of

OWNER = ("owner@shop.example", "fake owner passphrase for tests")
CLERK = ("clerk@shop.example", "fake clerk passphrase for tests")
SECRET = re.compile(r'<code class="secret">([A-Z2-7 ]+)</code>')


def add_account(app, email: str, password: str, role: str) -> None:
    """Through the command a shop uses: `flask --app app cpp staff add EMAIL --role ...`."""
    result = app.test_cli_runner().invoke(args=["cpp", "staff", "add", email, "--role", role],
                                          input=f"{password}\n{password}\n")
    assert result.exit_code == 0, result.output


def code_for(secret: str, step_offset: int = 0) -> str:
    """The authenticator app's code, `step_offset` 30-second steps from now."""
    return pyotp.TOTP(secret).at(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30 * step_offset))


class StaffVisitor(Visitor):
    secret: str | None = None
    last_code: str | None = None  # the code sign_in_owner gave last

    def sign_in(self, email: str, password: str, **kwargs):
        self.get("/staff/sign-in")
        return self.post_form("/staff/sign-in", {"email": email, "password": password},
                              **kwargs)

    def sign_in_owner(self, email: str = OWNER[0], password: str = OWNER[1]) -> str:
        """Sign in as an owner, setting up two-factor the first time; returns the page text."""
        page = self.sign_in(email, password)
        if page.url.endswith("/staff/two-factor/set-up"):
            self.secret = SECRET.search(page.text).group(1).replace(" ", "")
            self.last_code = code_for(self.secret)
            page = self.post_form("/staff/two-factor/set-up", {"code": self.last_code})
        elif page.url.endswith("/staff/two-factor"):
            # A later sign-in: the next step's code (this step's may already have been used).
            self.last_code = code_for(self.secret, 1)
            page = self.post_form("/staff/two-factor", {"code": self.last_code})
        assert page.url.endswith("/staff/"), (page.url, text_of(page.text)[:300])
        return text_of(page.text)

    def staff_post(self, path: str, data: dict | None = None, **kwargs):
        """A form on the page last shown (which carries the staff session's token)."""
        return self.post_form(path, data or {}, **kwargs)
