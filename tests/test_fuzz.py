"""Random text, unicode, huge values and missing fields at every route: never a 500, never a trace."""
from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ALLOWED = {200, 302, 303, 308, 400, 404, 405, 413, 429, 503}
# Large inputs are the point (9,000-character fields): Hypothesis must not refuse them.
FUZZ = settings(max_examples=40, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])
texts = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=60),
    st.text(st.characters(blacklist_categories=("Cs",)), min_size=2000, max_size=9000),
    st.sampled_from(["", " ", "M-1000", "INV-10244|19900", "' OR 1=1 --", "<script>alert(1)</script>",
                     "../../etc/passwd", "%00", "\x00", "ZZZZZZZZ", "0" * 70_000]),
)
maybe_text = st.one_of(st.none(), texts)


def check(response) -> None:
    body = response.get_data(as_text=True)
    assert response.status_code in ALLOWED, (response.status_code, body[:300])
    assert "Traceback" not in body and "File \"" not in body


def form(**fields) -> dict:
    return {key: value for key, value in fields.items() if value is not None}


@pytest.fixture
def fuzz_client(make_app):
    # Generous login limits so the fuzzer reaches the code behind them too.
    app = make_app(LOGIN_ACCOUNT_LIMIT="10000 per minute",
                   LOGIN_ADDRESS_LIMIT="10000 per minute")
    client = app.test_client()
    client.post("/login", data={"account": "M-1000", "password": "demo"})
    return client


@FUZZ
@given(account=maybe_text, password=maybe_text, next_url=maybe_text)
def test_login(client, account, password, next_url):
    query = {"next": next_url} if next_url is not None else {}
    check(client.post("/login", data=form(account=account, password=password),
                      query_string=query))
    check(client.get("/login", query_string=query))


@FUZZ
@given(values=st.lists(texts, max_size=5), extra=maybe_text)
def test_pay_bill(fuzz_client, values, extra):
    check(fuzz_client.post("/pay", data={"invoice": values, **form(extra=extra)}))


@FUZZ
@given(ref=maybe_text, key=maybe_text, status=maybe_text, transport=maybe_text,
       junk=st.dictionaries(st.text(min_size=1, max_size=10), texts, max_size=3))
def test_payment_return(fuzz_client, ref, key, status, transport, junk):
    query = {**junk, **form(ref=ref, ValidationKey=key, Status=status, TransportKey=transport)}
    check(fuzz_client.get("/pay/return", query_string=query))


@FUZZ
@given(segment=texts)
def test_payment_pages(fuzz_client, segment):
    path = quote(segment, safe="")[:5000] or "x"
    check(fuzz_client.get(f"/payments/{path}"))
    check(fuzz_client.get(f"/payments/{path}/receipt"))


@FUZZ
@given(path=texts, body=maybe_text)
def test_anything_else(fuzz_client, path, body):
    target = "/" + quote(path.lstrip("/"), safe="/")[:5000]  # never "//host"
    check(fuzz_client.get(target))
    check(fuzz_client.post(target, data=form(body=body)))
    check(fuzz_client.get("/invoices", query_string=form(q=body)))
    check(fuzz_client.post("/logout", data=form(x=body)))
