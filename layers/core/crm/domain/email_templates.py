"""Email templates: versioned subject, HTML and text, rendered by Jinja2's sandbox.

The HTML body is rendered with autoescape (a lead named `<script>` appears as text, never as
markup); subject and text are plain text. A template may name only the variables below; any
other name is refused when the template is saved (422 naming the field), and rendering is
strict (an undefined value raises instead of printing a blank):

- `record`: the lead, contact or user the email is for: name, first_name, email, phone,
  company, job_title, status, source, category, score, tags, and `record.custom_fields.<key>`
  for the tenant's custom fields;
- `owner`: the record's owner (name, email), empty when nobody owns it;
- `tenant`: name; `sender`: the user sending it (name, email);
- `vars`: anything the caller passes with the email (POST /emails `variables`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError, TemplateSyntaxError, nodes
from jinja2.sandbox import SandboxedEnvironment

from crm.domain.emails import html_to_text

RECORD_FIELDS = frozenset({
    "id", "name", "first_name", "email", "phone", "company", "job_title", "status", "source",
    "category", "score", "tags", "custom_fields",
})  # fmt: skip
NAMESPACES: Mapping[str, frozenset[str] | None] = {
    "record": RECORD_FIELDS,
    "owner": frozenset({"name", "email"}),
    "tenant": frozenset({"name"}),
    "sender": frozenset({"name", "email"}),
    "vars": None,  # free-form: the caller's variables
}

_html = SandboxedEnvironment(autoescape=True, undefined=StrictUndefined)
_plain = SandboxedEnvironment(autoescape=False, undefined=StrictUndefined)


class TemplateProblems(ValueError):
    """Per-field problems of a template: [(field, message)]."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{f}: {m}" for f, m in problems))
        self.problems = problems


class RenderFailed(ValueError):
    """A template could not be rendered for this record (a missing `vars` value, ...)."""


@dataclass(frozen=True)
class TemplateContent:
    subject: str
    html: str | None
    text: str | None


@dataclass(frozen=True)
class EmailTemplate:
    tenant_id: uuid.UUID
    name: str
    content: TemplateContent
    version: int = 1
    created_by: uuid.UUID | None = None
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "name": self.name,
            "subject": self.content.subject,
            "html": self.content.html,
            "text": self.content.text,
            "version": self.version,
            "created_by": str(self.created_by) if self.created_by else None,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


def check_template(content: TemplateContent, custom_field_keys: Iterable[str]) -> None:
    """Raise TemplateProblems unless every part parses and names only known variables."""
    keys = frozenset(custom_field_keys)
    problems: list[tuple[str, str]] = []
    parts = {"subject": content.subject, "html": content.html, "text": content.text}
    for part, source in parts.items():
        if source is None:
            continue
        env = _html if part == "html" else _plain
        try:
            tree = env.parse(source)
        except TemplateSyntaxError as error:
            problems.append((part, f"line {error.lineno}: {error.message}"))
            continue
        problems += [(part, message) for message in _unknown_names(tree, keys)]
    if problems:
        raise TemplateProblems(problems)


def _unknown_names(tree: nodes.Template, custom_field_keys: frozenset[str]) -> list[str]:
    locally_bound = {
        target.name
        for node in tree.find_all((nodes.For, nodes.Assign, nodes.With))
        for target in _targets(node)
    }
    messages: list[str] = []
    for name in tree.find_all(nodes.Name):
        if name.ctx == "load" and name.name not in NAMESPACES and name.name not in locally_bound:
            messages.append(f"unknown variable {name.name!r}; use one of {', '.join(NAMESPACES)}")
    for getattr_node in tree.find_all(nodes.Getattr):
        path = _path(getattr_node)
        if not path or path[0] not in NAMESPACES:
            continue
        allowed = NAMESPACES[path[0]]
        if allowed is None or len(path) < 2:
            continue
        if path[1] not in allowed:
            messages.append(f"unknown variable {'.'.join(path[:2])!r}")
        elif (
            path[:2] == ["record", "custom_fields"]
            and len(path) > 2
            and path[2] not in custom_field_keys
        ):
            messages.append(f"unknown custom field {'.'.join(path[:3])!r}")
    return sorted(set(messages))


def _targets(node: nodes.Node) -> list[nodes.Name]:
    found: list[nodes.Name] = []
    targets = getattr(node, "targets", None)
    for target in targets if targets is not None else [getattr(node, "target", None)]:
        if isinstance(target, nodes.Name):
            found.append(target)
        elif isinstance(target, nodes.Tuple):
            found += [item for item in target.items if isinstance(item, nodes.Name)]
    return found


def _path(node: nodes.Getattr) -> list[str]:
    """record.custom_fields.plan -> ["record", "custom_fields", "plan"] (outermost only)."""
    parts: list[str] = []
    current: nodes.Node = node
    while isinstance(current, nodes.Getattr):
        parts.append(current.attr)
        current = current.node
    if not isinstance(current, nodes.Name):
        return []
    return [current.name, *reversed(parts)]


@lru_cache(maxsize=512)
def _compiled(source: str, html: bool) -> Template:
    """A template compiles once per container (a bulk send renders one for many records)."""
    return (_html if html else _plain).from_string(source)


def render(content: TemplateContent, context: Mapping[str, Any]) -> TemplateContent:
    """The rendered subject, HTML and text (text derived from the HTML when the template has
    none); RenderFailed when a value is missing."""
    try:
        subject = " ".join(_compiled(content.subject, False).render(context).split())
        html = _compiled(content.html, True).render(context) if content.html else None
        text = _compiled(content.text, False).render(context) if content.text else None
    except TemplateError as error:
        raise RenderFailed(str(error)) from error
    if text is None:
        text = html_to_text(html or "")
    return TemplateContent(subject, html, text)


def record_context(record: Mapping[str, Any]) -> dict[str, Any]:
    """The `record` variable from a record's API shape: every known field present (None when
    the record has no such field), first_name derived from the name."""
    values = {key: record.get(key) for key in RECORD_FIELDS}
    name = str(record.get("name") or "")
    values["first_name"] = name.split()[0] if name.split() else ""
    values["custom_fields"] = dict(record.get("custom_fields") or {})
    values["tags"] = list(record.get("tags") or [])
    return values


# ------------------------------------------------------------------ the product's own emails

_INVITATION = {
    "en": TemplateContent(
        subject="You are invited to {{ tenant.name }}",
        html=None,
        text=(
            "Hello {{ record.name }},\n\n"
            "You have been invited to join {{ tenant.name }} as {{ vars.role }}.\n"
            "Choose your password here (the link works once, for 7 days):\n\n{{ vars.link }}\n\n"
            "If you did not expect this, ignore this message.\n"
        ),
    ),
    "pt": TemplateContent(
        subject="Você foi convidado para {{ tenant.name }}",
        html=None,
        text=(
            "Olá {{ record.name }},\n\n"
            "Você foi convidado para participar de {{ tenant.name }} como {{ vars.role }}.\n"
            "Escolha sua senha aqui (o link funciona uma vez, por 7 dias):\n\n{{ vars.link }}\n\n"
            "Se você não esperava este convite, ignore esta mensagem.\n"
        ),
    ),
}
_PASSWORD_RESET = {
    "en": TemplateContent(
        subject="Reset your CRM password",
        html=None,
        text=(
            "Someone asked to reset the password of {{ record.email }} in the organisation "
            "'{{ vars.slug }}'.\n\nTo choose a new password, open this link within "
            "{{ vars.minutes }} minutes:\n\n{{ vars.link }}\n\nThe link works once. If you did "
            "not ask for this, ignore this message: your password stays as it is.\n"
        ),
    ),
    "pt": TemplateContent(
        subject="Redefina sua senha do CRM",
        html=None,
        text=(
            "Alguém pediu para redefinir a senha de {{ record.email }} na organização "
            "'{{ vars.slug }}'.\n\nPara escolher uma nova senha, abra este link em até "
            "{{ vars.minutes }} minutos:\n\n{{ vars.link }}\n\nO link funciona uma vez. Se não "
            "foi você, ignore esta mensagem: sua senha continua a mesma.\n"
        ),
    ),
}
DEFAULT_TEMPLATES = {"invitation": _INVITATION, "password_reset": _PASSWORD_RESET}


def default_template(purpose: str, locale: str | None) -> TemplateContent:
    """The product's template for `purpose` in the tenant's language (pt-BR, pt-PT: the
    Portuguese one; anything else: English)."""
    language = (locale or "en").split("-")[0].lower()
    by_language = DEFAULT_TEMPLATES[purpose]
    return by_language.get(language, by_language["en"])
