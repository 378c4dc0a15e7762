"""cpp.templating: cheaper autoescaping that escapes exactly what Jinja's own does."""
from __future__ import annotations

from decimal import Decimal

import pytest
from flask import Flask, render_template_string
from jinja2.compiler import CodeGenerator
from markupsafe import Markup, escape

from cpp import templating
from cpp.templating import escape_output

HOSTILE = "<script>alert('x')</script> & \"quoted\""


class HasHtml:
    def __html__(self) -> str:
        return "<em>its own markup</em>"


@pytest.mark.parametrize("value", [
    "INV-40001", "", HOSTILE, "ünïcödé <b>", Markup("<b>already safe</b>"), HasHtml(),
    42, -7, 10**30, True, Decimal("10.50"), None, Markup("<i>x</i>") + "<b>",
])
def test_escape_output_writes_what_markupsafe_writes(value):
    assert str(escape_output(value)) == str(escape(value))


# Everything that writes a value under autoescaping: plain output, a buffer ({% set %}), a
# macro, a call block, a filter block, |safe, Markup, an undefined name, a loop, translated
# text with values, a block where autoescaping is switched off (which must stay unescaped, as
# Jinja has it) and one switched by a variable (Jinja's own code, decided as it renders).
TEMPLATE = """
<p title="{{ s }}">{{ s }} {{ m }} {{ n }} {{ missing }} {{ obj }}</p>
{% set buffered %}<i>{{ s }}</i>{% endset %}{{ buffered }} {{ buffered|length }}
{% macro row(value) %}<td>{{ value }}</td>{% endmacro %}{{ row(s) }}
{% macro wrap() %}<div>{{ caller() }}</div>{% endmacro %}{% call wrap() %}{{ s }}{% endcall %}
{% filter upper %}{{ s }}{% endfilter %}
{{ s|safe }} {{ s ~ m }} {% for x in [s, m, n] %}[{{ x }}]{% endfor %}
{% autoescape false %}{{ s }}{% endautoescape %}
{% autoescape flag %}{{ s }}{% endautoescape %}
{% trans name=s %}Hello, {{ name }}{% endtrans %}
{% trans count=n %}{{ count }} <{{ s }}>{% pluralize %}{{ count }} <{{ s }}>s{% endtrans %}
"""


def rendered_with(generator: type[CodeGenerator]) -> str:
    app = Flask(__name__)
    templating.init_app(app)
    app.jinja_env.add_extension("jinja2.ext.i18n")
    app.jinja_env.install_null_translations(newstyle=True)
    app.jinja_env.code_generator_class = generator
    with app.test_request_context("/"):
        # render_template_string autoescapes, as .html templates are
        return render_template_string(TEMPLATE, s=HOSTILE, m=Markup("<b>safe</b>"), n=7,
                                      obj=HasHtml(), flag=True)


def test_templates_render_exactly_as_with_jinjas_own_escaping():
    fast = rendered_with(templating.FastEscapeCodeGenerator)
    assert fast == rendered_with(CodeGenerator)
    # and that means escaped: only |safe and the autoescape-false block write the raw script
    assert fast.count("<script>") == 2
    assert fast.count("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &#34;quoted&#34;") >= 9


def test_the_portals_templates_use_the_fast_escape(app):
    """If a Jinja release renames the hook, templates silently compile the old way: this says so."""
    source = app.jinja_env.loader.get_source(app.jinja_env, "invoices/index.html")[0]
    code = app.jinja_env.compile(source, name="invoices/index.html", raw=True)
    assert code.count("environment.escape_output(") > 20
    assert code.replace("escape_output(", "").count("escape(") == 0


def test_the_invoices_page_unpacks_rows_in_invoice_row_order(app):
    """The row loop names InvoiceRow's fields by position: a field added or moved on one side
    only would put, say, the balance where the details go."""
    from jinja2 import nodes

    from cpp.invoices import InvoiceRow

    source = app.jinja_env.loader.get_source(app.jinja_env, "invoices/index.html")[0]
    loops = [loop for loop in app.jinja_env.parse(source).find_all(nodes.For)
             if isinstance(loop.iter, nodes.Name) and loop.iter.name == "rows"
             and isinstance(loop.target, nodes.Tuple)]
    assert len(loops) == 1
    assert [name.name for name in loops[0].target.items] == list(InvoiceRow._fields)
