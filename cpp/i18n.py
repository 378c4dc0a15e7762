"""The customer's language: English or Spanish, for every customer page, error, email receipt
and the sandbox card page (Flask-Babel, gettext catalogues in cpp/translations).

Chosen by the visible switch (a cookie), then the browser's Accept-Language, then
DEFAULT_LANGUAGE. Money and dates follow it (LANGUAGE_LOCALES). A receipt goes out in the
language its payment was made in, also when the reconcile job sends it later. The staff
dashboard stays in English.

The catalogues' source is the .po file; it is compiled to a .mo at start, into the instance
folder, whenever the .po is newer, so a fresh checkout runs without a build step.
"""
from __future__ import annotations

import os
import re
import tempfile
from functools import lru_cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import (
    Blueprint,
    Flask,
    current_app,
    g,
    has_app_context,
    has_request_context,
    redirect,
    request,
)
from flask_babel import Babel, get_locale, get_translations, gettext
from jinja2 import pass_eval_context
from markupsafe import Markup

from .auth.routes import safe_next
from .marks import N_  # noqa: F401 - offered here with the rest of the language tools

LANGUAGES = {"en": "English", "es": "Español"}
COOKIE = "cpp_lang"
SOURCE = Path(__file__).resolve().parent / "translations"

babel = Babel()
bp = Blueprint("language", __name__)


def select_language() -> str:
    if has_request_context():
        if request.path.startswith("/staff"):
            return "en"
        chosen = request.cookies.get(COOKIE)
        if chosen in LANGUAGES:
            return chosen
        best = request.accept_languages.best_match(list(LANGUAGES))
        if best:
            return best
    return current_app.config.get("DEFAULT_LANGUAGE", "en")


def language() -> str:
    """The language of the page being made (or of the receipt being sent)."""
    return str(get_locale() or current_app.config.get("DEFAULT_LANGUAGE", "en")).split("_")[0]


def formatting_locale() -> str:
    """The Babel locale for money and dates: LOCALE for English, LANGUAGE_LOCALES for others."""
    return per_locale("formatting_locale", _formatting_locale)


def _formatting_locale() -> str:
    lang = language()
    if lang == "en":
        return current_app.config["LOCALE"]
    return (current_app.config.get("LANGUAGE_LOCALES") or {}).get(lang, lang)


def translations():
    """The catalogue of the language in force, looked up once per page rather than on every
    string (Flask-Babel's own lookup, per string, was a tenth of the invoices page's time)."""
    return per_locale("translations", get_translations)


def per_locale(name: str, compute):
    """compute(), kept on the request (or app) context for as long as its locale is in force.

    Flask-Babel keeps the locale object in g._flask_babel.babel_locale and replaces it inside
    force_locale (a receipt in the customer's language): a new object, a new computation.
    Called for every string of a page, so it touches `g` once.
    """
    if not has_app_context():
        return compute()
    state = g._get_current_object().__dict__
    babel_state = state.get("_flask_babel")
    locale = getattr(babel_state, "babel_locale", None) or get_locale()
    cache = state.setdefault("cpp_per_locale", {})
    found = cache.get(name)
    if found is not None and found[0] is locale:
        return found[1]
    value = compute()
    cache[name] = (locale, value)
    return value


def gettext_once_per_language(key: str, make):
    """make() for this language, kept for the life of the process: for texts built only from
    the catalogue (the invoices page script's words), which never change while it runs."""
    cache = current_app.extensions.setdefault("cpp_per_language", {})
    lang = language()
    if (key, lang) not in cache:
        cache[key, lang] = make()
    return cache[key, lang]


@bp.get("/language/<code>")
def switch(code: str):
    """The visible switch: remembered in a cookie (it holds nothing else)."""
    target = safe_next(request.args.get("next")) or "/"
    response = redirect(target, 303)
    if code in LANGUAGES:
        response.set_cookie(COOKIE, code, max_age=400 * 86400, samesite="Lax", httponly=True,
                            secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")))
    return response


DECLINED = re.compile(r"^Your card was declined: (.+)\.$", re.S)


def reason(text: str | None) -> str | None:
    """A failure reason stored in the ledger (in English), in the customer's language: the
    fixed ones from the catalogue, a decline with the bank's own words kept."""
    if not text:
        return text
    match = DECLINED.match(text)
    if match:
        return gettext("Your card was declined: %(detail)s.", detail=match.group(1))
    return gettext(text)


def compiled_catalogues(app: Flask) -> str:
    """Compile each .po newer than its .mo; returns the folder Flask-Babel reads."""
    target = Path(app.instance_path) / "translations"
    for po in SOURCE.glob("*/LC_MESSAGES/messages.po"):
        mo = target / po.relative_to(SOURCE).with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        mo.parent.mkdir(parents=True, exist_ok=True)
        with po.open("rb") as source:
            catalog = read_po(source)
        # Written aside, then moved in place: several processes may start at once.
        handle, temporary = tempfile.mkstemp(dir=mo.parent, suffix=".tmp")
        with os.fdopen(handle, "wb") as out:
            write_mo(out, catalog, use_fuzzy=False)
        # Readable by every account that runs the portal (mkstemp makes it owner-only): the
        # command line may compile it as another user than the web server's.
        os.chmod(temporary, 0o644)
        os.replace(temporary, mo)
    return str(target)


@pass_eval_context
def template_gettext(eval_ctx, string: str, /, **variables) -> str:
    """Exactly Jinja's new-style gettext (the result is always a %-format, escaped in an HTML
    template), in one call. Positional-only, so that a template variable may be called
    `string` or `num`, as with Jinja's own.

    It needs only to know whether the template autoescapes: passed the evaluation context,
    not the whole context, which Jinja copies (every variable and block) for each call made
    after a {% set %} or inside a loop."""
    catalogue = translations()
    if not eval_ctx.autoescape:
        return catalogue.ugettext(string) % variables
    if not variables:
        return _page_text(catalogue, string)
    return Markup(catalogue.ugettext(string)) % variables  # noqa: S704 - see _page_text


@pass_eval_context
def template_ngettext(eval_ctx, singular: str, plural: str, num: int, /, **variables) -> str:
    variables.setdefault("num", num)
    text = translations().ungettext(singular, plural, num)
    return (Markup(text) if eval_ctx.autoescape else text) % variables  # noqa: S704


@lru_cache(maxsize=4096)
def _page_text(catalogue, string: str) -> Markup:
    """A template's fixed words in one language (a catalogue per language, which lives as
    long as the process), made once. The catalogue's text is the templates' own, trusted as
    Jinja's i18n trusts it; what % fills in is escaped."""
    return Markup(catalogue.ugettext(string)) % {}  # noqa: S704 - the templates' own words


def init_babel(app: Flask) -> None:
    """Translations for an app's templates: the portal, or the sandbox run on its own."""
    babel.init_app(app, locale_selector=select_language,
                   default_translation_directories=compiled_catalogues(app))
    # Multi-line {% trans %} blocks are one sentence in the catalogue, whatever the indentation.
    app.jinja_env.policies["ext.i18n.trimmed"] = True
    # Jinja's new-style gettext, with the catalogue looked up once per page (translations())
    # and called straight from the template: Jinja's own wrappers added two calls per string,
    # a fifth of the invoices page's template time.
    app.jinja_env.install_gettext_callables(
        gettext=lambda text: translations().ugettext(text),
        ngettext=lambda singular, plural, n: translations().ungettext(singular, plural, n),
        newstyle=True)
    app.jinja_env.globals.update(gettext=template_gettext, _=template_gettext,
                                 ngettext=template_ngettext)
    app.add_template_global(language, "current_language")


def init_app(app: Flask) -> None:
    init_babel(app)
    app.register_blueprint(bp)
    app.add_template_global(LANGUAGES, "languages")
    app.add_template_filter(reason, "reason")
