"""A customer's browser, as far as HTTP goes: cookies, CSRF tokens, redirects, form posts."""
from __future__ import annotations

import re
from html import unescape

import requests
from requests.adapters import HTTPAdapter

TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
INVOICE_BOX = re.compile(r'name="invoice"[^>]*value="([^"]+)"')


def text_of(html: str) -> str:
    """The page's words, as a person reads them."""
    html = re.sub(r"(?s)<(script|style)\b.*?</\1>", " ", html)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


class SourceAddressAdapter(HTTPAdapter):
    """Connect from a chosen loopback address (127.0.0.x), as a customer elsewhere would."""

    def __init__(self, source: str, **kwargs):
        self.source = source
        super().__init__(**kwargs)

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.source, 0)
        super().init_poolmanager(*args, **kwargs)


class Visitor:
    def __init__(self, base_url: str, source_address: str | None = None,
                 verify: str | bool = True):
        self.base = base_url.rstrip("/")
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.verify = verify
        if source_address:
            adapter = SourceAddressAdapter(source_address)
            self.session.mount("http://", adapter)
            self.session.mount("https://", adapter)
        self.last = None

    def get(self, path_or_url: str, **kwargs) -> requests.Response:
        url = path_or_url if path_or_url.startswith("http") else self.base + path_or_url
        self.last = self.session.get(url, timeout=30, **kwargs)
        return self.last

    def token(self) -> str:
        return TOKEN.search(self.last.text).group(1)

    def post_form(self, path: str, data: dict, headers_extra: dict | None = None,
                  **kwargs) -> requests.Response:
        """Submit a form of the page last shown, with its token and, as browsers do, Origin."""
        data = {"csrf_token": self.token(), **data}
        url = path if path.startswith("http") else self.base + path
        origin = "/".join(self.last.url.split("/")[:3]) if self.last is not None else self.base
        self.last = self.session.post(url, data=data, timeout=30,
                                      headers={"Origin": origin, **(headers_extra or {})},
                                      **kwargs)
        return self.last

    def login(self, account: str, password: str = "demo") -> requests.Response:
        self.get("/login")
        return self.post_form("/login", {"account": account, "password": password})

    def invoice_choices(self) -> dict[str, str]:
        """Invoice number -> the value its checkbox sends, from the invoices page."""
        page = self.get("/invoices")
        return {value.split("|")[0]: unescape(value) for value in INVOICE_BOX.findall(page.text)}

    def pay_bill(self, values: list[str]) -> requests.Response:
        """Press Pay Bill; returns the 303 (not followed)."""
        if "/invoices" not in (self.last.url if self.last is not None else ""):
            self.get("/invoices")
        return self.post_form("/pay", {"invoice": values}, allow_redirects=False)

    def pay(self, numbers: list[str]) -> str:
        choices = self.invoice_choices()
        response = self.pay_bill([choices[n] for n in numbers])
        assert response.status_code == 303, response.text
        return response.headers["Location"]

    def card_page(self, card_page_url: str, card: str | None, action: str = "process",
                  expiry: str = "12/39", cvv: str = "123", name: str = "Test Cardholder") -> str:
        """Fill Cayan's card page and press a button; returns where Cayan sends the browser."""
        page = self.session.get(card_page_url, timeout=30)
        assert page.status_code == 200, page.text
        key = card_page_url.split("transportKey=")[1]
        response = self.session.post(card_page_url.split("?")[0], timeout=30, allow_redirects=False,
                                     data={"transportKey": key, "card_number": card or "",
                                           "expiry": expiry, "cvv": cvv, "cardholder": name,
                                           "action": action})
        assert response.status_code == 302, response.text
        return response.headers["Location"]

    def follow(self, url: str) -> requests.Response:
        self.last = self.session.get(url, timeout=30)
        return self.last
