"""The template engine against Go's own ``text/template`` (golden outputs).

``golden/golden.json`` was produced by ``golden/gen.go`` with Go's standard library and the secret-template
functions as api.md 5.10 defines them. Every case Go renders must render to the same bytes here; every case Go
rejects must raise TemplateError here; cases marked ``unsupported`` (outside the documented subset) must raise
TemplateError even though Go renders them.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from dbops.secrets.gotemplate.literals import encode_text
from dbops.secrets.template import SecretTemplateData, TemplateError, render_secret_template

GOLDEN = json.loads((Path(__file__).parent / "golden" / "golden.json").read_text(encoding="utf-8"))


def _data(fields: dict[str, Any]) -> SecretTemplateData:
    return SecretTemplateData(
        username=fields["Username"],
        password=fields["Password"],
        host=fields["Host"],
        port=fields["Port"],
        database=fields["Database"],
        ssl_mode=fields["SSLMode"],
        namespace=fields["Namespace"],
        name=fields["Name"],
        ca=fields["CA"],
        tls_cert=fields["TLSCert"],
        tls_key=fields["TLSKey"],
    )


DATA = {name: _data(fields) for name, fields in GOLDEN["data"].items()}
RESULTS = GOLDEN["results"]


def test_golden_file_is_substantial() -> None:
    assert len(RESULTS) > 500
    assert sum(1 for r in RESULTS if r.get("error")) > 50
    assert sum(1 for r in RESULTS if r.get("unsupported")) >= 5


@pytest.mark.parametrize("case", RESULTS, ids=[r["name"] for r in RESULTS])
def test_matches_go(case: dict[str, Any]) -> None:
    data = DATA[case["data"]]
    if case.get("error") or case.get("unsupported"):
        with pytest.raises(TemplateError) as info:
            render_secret_template(case["name"], case["template"], data)
        assert info.value.key == case["name"]
        assert data.password not in str(info.value) or data.password == ""
        return
    expected = base64.b64decode(case.get("output_b64", ""))
    assert encode_text(render_secret_template(case["name"], case["template"], data)) == expected


def test_golden_file_is_current_with_the_cases() -> None:
    """golden.json must be regenerated (``go run gen.go``) whenever cases.json changes."""
    cases = json.loads((Path(__file__).parent / "golden" / "cases.json").read_text(encoding="utf-8"))
    assert cases["data"] == GOLDEN["data"]
    expected = [(c["name"], c["template"], c["data"], c.get("unsupported", False)) for c in cases["cases"]]
    actual = [(r["name"], r["template"], r["data"], r.get("unsupported", False)) for r in RESULTS]
    assert expected == actual
