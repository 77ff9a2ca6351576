"""Email templates and messages, pure: what a template may name, how it renders (HTML
autoescaped, text derived), the product's own emails per language, and the text part of an
HTML body."""

from __future__ import annotations

import uuid

import pytest
from crm.domain.email_templates import (
    RenderFailed,
    TemplateContent,
    TemplateProblems,
    check_template,
    default_template,
    record_context,
    render,
)
from crm.domain.emails import Email, Recipient, html_to_text, outbound


def _problems(content: TemplateContent, keys: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    with pytest.raises(TemplateProblems) as refused:
        check_template(content, keys)
    return refused.value.problems


def test_known_variables_and_loop_names_pass() -> None:
    check_template(
        TemplateContent(
            "Hi {{ record.first_name }} from {{ tenant.name }}",
            "{% for tag in record.tags %}<i>{{ tag }}</i>{% endfor %}{{ vars.anything.deep }}"
            "{{ record.custom_fields.plan }} {{ owner.name }} {{ sender.email }}",
            None,
        ),
        ["plan"],
    )


@pytest.mark.parametrize(
    ("content", "part", "message"),
    [
        (TemplateContent("Hi {{ lead.name }}", None, "x"), "subject", "unknown variable 'lead'"),
        (TemplateContent("s", "{{ record.nickname }}", None), "html", "'record.nickname'"),
        (TemplateContent("s", None, "{{ owner.phone }}"), "text", "'owner.phone'"),
        (
            TemplateContent("s", None, "{{ record.custom_fields.vip }}"),
            "text",
            "field 'record.custom_fields.vip'",
        ),
        (TemplateContent("s", "{% if %}", None), "html", "line 1"),
    ],
)
def test_unknown_variables_and_syntax_errors_are_named_per_part(
    content: TemplateContent, part: str, message: str
) -> None:
    [(where, text)] = _problems(content, ("plan",))
    assert where == part and message in text


def test_html_is_escaped_and_text_is_derived_from_it() -> None:
    context = {"record": record_context({"name": "<script>alert(1)</script> Ana"}), "vars": {}}
    rendered = render(TemplateContent("Hi {{ record.name }}", "<p>{{ record.name }}</p>", None),
                      context)  # fmt: skip
    assert rendered.html == "<p>&lt;script&gt;alert(1)&lt;/script&gt; Ana</p>"
    assert rendered.text == "<script>alert(1)</script> Ana\n"
    assert rendered.subject == "Hi <script>alert(1)</script> Ana"  # a subject is not HTML


def test_a_missing_value_fails_the_render_instead_of_printing_a_blank() -> None:
    with pytest.raises(RenderFailed):
        render(TemplateContent("s", None, "{{ vars.code }}"), {"vars": {}})


def test_the_sandbox_refuses_unsafe_attribute_access() -> None:
    with pytest.raises(RenderFailed):
        render(TemplateContent("s", None, "{{ vars.f.__globals__ }}"), {"vars": {"f": render}})


@pytest.mark.parametrize(("locale", "word"), [("pt-BR", "convidado"), ("en-US", "invited"),
                                              ("de-DE", "invited"), (None, "invited")])  # fmt: skip
def test_invitations_follow_the_tenant_language(locale: str | None, word: str) -> None:
    content = render(
        default_template("invitation", locale),
        {"record": {"name": "Ana"}, "tenant": {"name": "Acme"},
         "vars": {"role": "seller", "link": "https://x/accept?token=t"}},
    )  # fmt: skip
    assert word in (content.subject + content.text if content.text else "")
    assert "https://x/accept?token=t" in (content.text or "")


def test_html_to_text_keeps_links_and_blocks_and_drops_scripts() -> None:
    html = ("<html><head><title>T</title><style>p{}</style></head><body><h1>Hello</h1>"
            "<p>See <a href='https://a.example'>this</a> &amp; that</p><script>x()</script>"
            "<ul><li>one</li><li>two</li></ul></body></html>")  # fmt: skip
    assert html_to_text(html) == "Hello\n\nSee this (https://a.example) & that\n\n- one\n\n- two\n"


def test_an_outbound_message_names_its_tenant_and_has_a_stable_message_id() -> None:
    email = Email(tenant_id=uuid.uuid4(), to=Recipient("a@b.example"), from_address="n@c.example",
                  purpose="message", subject="s", text=None, html="<b>hi</b>")  # fmt: skip
    message = outbound(email)
    assert message.text == "hi\n" and message.message_id == f"<{email.id}@crm.local>"
    assert message.headers["X-CRM-Tenant"] == str(email.tenant_id)
