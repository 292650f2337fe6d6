"""A Python implementation of the subset of Go's ``text/template`` that credentials Secret templates use.

Existing manifests were written for Go's engine, so this package follows Go's lexer, parser and evaluator closely
(``text/template/parse/lex.go``, ``parse.go``, ``exec.go``, ``funcs.go`` and the parts of ``fmt`` that printing
uses): a template that renders under Go renders to the same text here. What is outside the documented subset
(``define``, ``template``, ``block``, ``break``, ``continue``, methods, complex numbers) fails with
:class:`TemplateError` instead of rendering something different.

The public entry points are in :mod:`dbops.secrets.template`.
"""

from dbops.secrets.gotemplate.errors import TemplateError

__all__ = ["TemplateError"]
