"""Rendering of DatabaseUser ``secretTemplate.data`` (api.md 5.10, behaviour.md 8.5).

Each value of ``secretTemplate.data`` is a Go ``text/template`` written for the previous, Go-based operator; the
engine in :mod:`dbops.secrets.gotemplate` reproduces Go's output for the documented language: field access,
literals, function calls, pipelines, parentheses, ``if``/``else if``/``else``, ``with``, ``range``, variables,
comments, trim markers, Go's built-in functions and the additional functions of the spec. Anything else — a syntax
error, an unknown function or field, a function given the wrong type, a construct outside the subset — raises
:class:`TemplateError`, whose message names the key and the position and never includes a value.

The same engine renders other operator templates with their own variables (for example the resource-tracking
``commentFormat``, api.md 5.7) through :func:`render_template`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from dbops.secrets.gotemplate.errors import Failure, TemplateError, to_template_error
from dbops.secrets.gotemplate.exec import execute
from dbops.secrets.gotemplate.funcs import FUNCTIONS
from dbops.secrets.gotemplate.literals import encode_text
from dbops.secrets.gotemplate.nodes import ListNode
from dbops.secrets.gotemplate.parser import parse
from dbops.secrets.gotemplate.values import Struct

__all__ = [
    "FUNCTION_NAMES",
    "SECRET_TEMPLATE_VARIABLES",
    "SecretTemplateData",
    "Template",
    "TemplateError",
    "parse_template",
    "render_secret_data",
    "render_secret_template",
    "render_template",
]

#: The variables of a credentials Secret template, in the order ``toJson .`` writes them.
SECRET_TEMPLATE_VARIABLES: Final = (
    "Username",
    "Password",
    "Host",
    "Port",
    "Database",
    "SSLMode",
    "Namespace",
    "Name",
    "CA",
    "TLSCert",
    "TLSKey",
)

#: Every function a template may call (Go built-ins plus the additions of api.md 5.10).
FUNCTION_NAMES: Final = frozenset(FUNCTIONS)


@dataclass(frozen=True)
class SecretTemplateData:
    """The values of a credentials Secret template (api.md 5.10 "Template variables").

    ``port`` is an integer, as in Go, so functions with string parameters refuse it. ``repr`` hides the password
    and the key.
    """

    username: str
    password: str = field(repr=False)
    host: str
    port: int
    database: str = ""
    ssl_mode: str = ""
    namespace: str = ""
    name: str = ""
    ca: str = ""
    tls_cert: str = ""
    tls_key: str = field(default="", repr=False)

    def fields(self) -> dict[str, Any]:
        values = (
            self.username,
            self.password,
            self.host,
            self.port,
            self.database,
            self.ssl_mode,
            self.namespace,
            self.name,
            self.ca,
            self.tls_cert,
            self.tls_key,
        )
        return dict(zip(SECRET_TEMPLATE_VARIABLES, values, strict=True))


@dataclass(frozen=True)
class Template:
    """A parsed template; render it as often as needed."""

    key: str
    source: str
    tree: ListNode = field(repr=False)

    def render(self, fields: Mapping[str, Any], *, type_name: str = "TemplateData") -> str:
        """Render with ``fields`` as the data struct (``.Name`` looks up ``fields["Name"]``)."""
        data = Struct(type_name, fields)
        try:
            return execute(self.tree, data)
        except Failure as exc:
            raise to_template_error(self.key, self.source, exc) from None
        except RecursionError:
            raise TemplateError(self.key, 1, 1, "template nests too deeply") from None


def parse_template(key: str, source: str) -> Template:
    """Parse ``source``; ``key`` names the template in errors (the ``secretTemplate.data`` key)."""
    try:
        return Template(key, source, parse(source, FUNCTIONS))
    except Failure as exc:
        raise to_template_error(key, source, exc) from None
    except RecursionError:
        raise TemplateError(key, 1, 1, "template nests too deeply") from None


def render_template(key: str, source: str, fields: Mapping[str, Any], *, type_name: str = "TemplateData") -> str:
    """Parse and render one template with the given variables (str, int, bool values)."""
    return parse_template(key, source).render(fields, type_name=type_name)


def render_secret_template(key: str, source: str, data: SecretTemplateData) -> str:
    """Render one ``secretTemplate.data`` value."""
    return render_template(key, source, data.fields(), type_name="SecretTemplateData")


def render_secret_data(templates: Mapping[str, str], data: SecretTemplateData) -> dict[str, bytes]:
    """Render every ``secretTemplate.data`` entry to the bytes the Secret stores, in key order.

    Bytes rather than text because a template can produce bytes that are not UTF-8 (``base64Decode``, ``"\\x80"``),
    which Go would store as they are.
    """
    return {key: encode_text(render_secret_template(key, templates[key], data)) for key in sorted(templates)}
