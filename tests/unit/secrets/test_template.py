"""Secret templates (api.md 5.10, behaviour.md 8.5): variables, functions, language, errors.

test_template_golden.py checks byte-for-byte agreement with Go on several hundred cases; the tests here state the
documented behaviour directly, one variable and one function at a time, and check the error contract.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dbops.secrets.template import (
    FUNCTION_NAMES,
    SECRET_TEMPLATE_VARIABLES,
    SecretTemplateData,
    TemplateError,
    parse_template,
    render_secret_data,
    render_secret_template,
    render_template,
)

DATA = SecretTemplateData(
    username="app_user",
    password="p@ss w/rd&x",
    host="db.example.com",
    port=5432,
    database="postgres",
    ssl_mode="require",
    namespace="team-a",
    name="app",
    ca="CA-PEM",
    tls_cert="CERT-PEM",
    tls_key="KEY-PEM",
)


def render(template: str, data: SecretTemplateData = DATA) -> str:
    return render_secret_template("k", template, data)


# --------------------------------------------------------------------------------------------------------------------
# Variables


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("Username", "app_user"),
        ("Password", "p@ss w/rd&x"),
        ("Host", "db.example.com"),
        ("Port", "5432"),
        ("Database", "postgres"),
        ("SSLMode", "require"),
        ("Namespace", "team-a"),
        ("Name", "app"),
        ("CA", "CA-PEM"),
        ("TLSCert", "CERT-PEM"),
        ("TLSKey", "KEY-PEM"),
    ],
)
def test_every_variable(variable: str, value: str) -> None:
    assert render("{{ ." + variable + " }}") == value
    assert render("{{ $." + variable + " }}") == value


def test_variable_list_is_exactly_the_spec() -> None:
    assert SECRET_TEMPLATE_VARIABLES == (
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
    assert list(DATA.fields()) == list(SECRET_TEMPLATE_VARIABLES)


def test_port_is_an_integer() -> None:
    assert render('{{ printf "%T" .Port }}') == "int"
    assert render("{{ if eq .Port 5432 }}pg{{ end }}") == "pg"
    with pytest.raises(TemplateError, match="expected string; got int"):
        render("{{ upper .Port }}")
    with pytest.raises(TemplateError, match="expected string; got int"):
        render("{{ .Port | urlEncode }}")


def test_ssl_mode_empty_when_tls_disabled() -> None:
    plain = SecretTemplateData(username="u", password="p", host="h", port=1)
    assert render('sslmode={{ default "disable" .SSLMode }}', plain) == "sslmode=disable"
    assert render('{{ .SSLMode | default "disable" }}', plain) == "disable"
    assert render('{{ default "disable" .SSLMode }}') == "require"


def test_typical_connection_url() -> None:
    template = (
        "postgresql://{{ .Username }}:{{ .Password | urlEncode }}@{{ .Host }}:{{ .Port }}/{{ .Database }}"
        '?sslmode={{ default "disable" .SSLMode }}'
    )
    assert render(template) == "postgresql://app_user:p%40ss+w%2Frd%26x@db.example.com:5432/postgres?sslmode=require"


def test_repr_hides_secrets() -> None:
    text = repr(DATA)
    assert "p@ss" not in text and "KEY-PEM" not in text
    assert "app_user" in text


# --------------------------------------------------------------------------------------------------------------------
# Additional functions (api.md 5.10 table)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ('{{ urlEncode "a b/c?d=e&f+g~h" }}', "a+b%2Fc%3Fd%3De%26f%2Bg~h"),
        ('{{ urlPathEncode "a b/c?d=e&f+g~h" }}', "a%20b%2Fc%3Fd=e&f+g~h"),
        ('{{ base64Encode "hello" }}', "aGVsbG8="),
        ('{{ base64Decode "aGVsbG8=" }}', "hello"),
        ('{{ upper "abcÉ" }}', "ABCÉ"),
        ('{{ lower "ABCÉ" }}', "abcé"),
        ('{{ title "hello world" }}', "Hello world"),
        ('{{ title "éa" }}', "Éa"),
        ('{{ trim "  \\t x y \\n" }}', "x y"),
        ('{{ trimPrefix "db_app" "db_" }}', "app"),
        ('{{ trimPrefix "db_app" "x" }}', "db_app"),
        ('{{ trimSuffix "app.svc.svc" ".svc" }}', "app.svc"),
        ('{{ replace "a-b-c" "-" "_" }}', "a_b_c"),
        ('{{ quote "a\\"b<c" }}', '"a\\"b\\u003cc"'),
        ('{{ squote "it\'s" }}', "'it'\\''s'"),
        ('{{ default "d" "" }}|{{ default "d" "v" }}|{{ default "d" 0 }}', "d|v|d"),
        ('{{ toJson "x" }}|{{ toJson 5 }}|{{ toJson true }}|{{ toJson nil }}', '"x"|5|true|null'),
        ('{{ join "abc" "," }}', "abc"),
    ],
)
def test_additional_functions(template: str, expected: str) -> None:
    assert render(template) == expected


def test_to_json_of_the_data() -> None:
    assert render("{{ toJson . }}") == (
        '{"Username":"app_user","Password":"p@ss w/rd\\u0026x","Host":"db.example.com","Port":5432,'
        '"Database":"postgres","SSLMode":"require","Namespace":"team-a","Name":"app","CA":"CA-PEM",'
        '"TLSCert":"CERT-PEM","TLSKey":"KEY-PEM"}'
    )


def test_string_parameter_order_is_string_first() -> None:
    # api.md: trimPrefix/trimSuffix take the string first and the affix second, so a pipe supplies the affix.
    assert render('{{ "db_" | trimPrefix "db_app" }}') == "app"


# --------------------------------------------------------------------------------------------------------------------
# Go built-ins


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ('{{ and 1 2 }}|{{ and 0 2 }}|{{ or 0 "" }}|{{ or 0 3 }}|{{ not 0 }}', "2|0||3|true"),
        (
            "{{ eq 1 1 }} {{ ne 1 2 }} {{ lt 1 2 }} {{ le 2 2 }} {{ gt 1 2 }} {{ ge 2 3 }}",
            "true true true true false false",
        ),
        ('{{ eq .SSLMode "disable" "require" }}', "true"),
        ('{{ len .Username }} {{ len "é" }}', "8 2"),
        ('{{ index .Username 0 }} {{ printf "%c" (index .Username 0) }}', "97 a"),
        ("{{ slice .Username 0 3 }}|{{ slice .Username 4 }}", "app|user"),
        ('{{ print 1 2 "a" "b" 3 }}', "1 2ab3"),
        ('{{ printf "%s:%d %05.1f %q %x" .Host .Port 3.14159 "x" 255 }}', 'db.example.com:5432 003.1 "x" ff'),
        ('{{ println "a" 1 }}', "a 1\n"),
        ("{{ html \"<a href='x'>\" }}", "&lt;a href=&#39;x&#39;&gt;"),
        ('{{ js "a\'b<c" }}', "a\\'b\\u003Cc"),
        ('{{ urlquery "a b&c" }}', "a+b%26c"),
    ],
)
def test_builtins(template: str, expected: str) -> None:
    assert render(template) == expected


def test_call_has_nothing_to_call() -> None:
    with pytest.raises(TemplateError, match="error calling call"):
        render("{{ call .Username }}")


def test_function_names_are_exactly_the_documented_ones() -> None:
    builtins = {
        "and",
        "or",
        "not",
        "eq",
        "ne",
        "lt",
        "le",
        "gt",
        "ge",
        "len",
        "index",
        "slice",
        "print",
        "printf",
        "println",
        "html",
        "js",
        "urlquery",
        "call",
    }
    extras = {
        "urlEncode",
        "urlPathEncode",
        "base64Encode",
        "base64Decode",
        "upper",
        "lower",
        "title",
        "trim",
        "trimPrefix",
        "trimSuffix",
        "replace",
        "quote",
        "squote",
        "default",
        "toJson",
        "join",
    }
    assert builtins | extras == FUNCTION_NAMES


@pytest.mark.parametrize("name", ["split", "env", "include", "tpl", "required", "b64enc", "sha256sum", "now"])
def test_undocumented_functions_are_unknown(name: str) -> None:
    with pytest.raises(TemplateError, match=f"function '{name}' not defined"):
        render("{{ " + name + " .Username }}")


# --------------------------------------------------------------------------------------------------------------------
# Language


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ if .SSLMode }}ssl{{ else }}plain{{ end }}", "ssl"),
        ("{{ if eq .Port 3306 }}my{{ else if eq .Port 5432 }}pg{{ else }}?{{ end }}", "pg"),
        ("{{ with .CA }}ca={{ . }}{{ end }}", "ca=CA-PEM"),
        ("{{ with .Database }}{{ . }}{{ else with .Host }}{{ . }}{{ end }}", "postgres"),
        ("{{ range 3 }}{{ . }}{{ end }}", "012"),
        ("{{ range $i := 2 }}[{{ $i }}]{{ else }}none{{ end }}", "[0][1]"),
        ("{{ range 0 }}x{{ else }}none{{ end }}", "none"),
        ('{{ $u := upper .Username }}{{ $u }}-{{ $u = "x" }}{{ $u }}', "APP_USER-x"),
        ("a{{/* comment */}}b", "ab"),
        ("a \n {{- .Name -}} \n b", "aappb"),
        ('{{ .Username | upper | printf "%s!" }}', "APP_USER!"),
        ('{{ printf "%s/%s" (upper .Name) (lower .Host) }}', "APP/db.example.com"),
        ("{{ \"raw\" }}{{ `back\\tquoted` }}{{ 'a' }}{{ 0x10 }}{{ 1.5 }}{{ true }}", "rawback\\tquoted97161.5true"),
        ('{{ default nil "" }}', "<no value>"),
        ("", ""),
    ],
)
def test_language(template: str, expected: str) -> None:
    assert render(template) == expected


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ('{{ define "x" }}{{ end }}', "{{define}} is not supported"),
        ('{{ template "x" }}', "{{template}} is not supported"),
        ('{{ block "x" . }}{{ end }}', "{{block}} is not supported"),
        ("{{ range 3 }}{{ break }}{{ end }}", "{{break}} is not supported"),
        ("{{ range 3 }}{{ continue }}{{ end }}", "{{continue}} is not supported"),
        ("{{ 1i }}", "complex number"),
    ],
)
def test_outside_the_subset(template: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message.replace("{", r"\{").replace("}", r"\}")):
        render(template)


# --------------------------------------------------------------------------------------------------------------------
# Errors: key, position, never a value


@pytest.mark.parametrize(
    ("template", "line", "column", "message"),
    [
        ("ok {{ .Nope }}", 1, 7, "can't evaluate field Nope"),
        ("a\nb {{ .username }}", 2, 6, "can't evaluate field username"),
        ("{{ nope }}", 1, 4, "function 'nope' not defined"),
        ("x {{ .Username ", 1, 16, "unclosed action"),
        ("{{ if .Host }}x", 1, 16, "unexpected EOF"),
        ("x{{ end }}", 1, 5, "unexpected {{end}}"),
        ('{{ "abc }}', 1, 4, "unterminated quoted string"),
        ("{{ $x }}", 1, 4, "undefined variable '$x'"),
        ('{{ .Username "x" }}', 1, 4, "Username has arguments"),
        ("{{ index .Username 99 }}", 1, 4, "index out of range"),
        ('{{ replace .Username "a" }}', 1, 4, "wrong number of args for replace: want 3 got 2"),
        ("{{ range .Password }}{{ end }}", 1, 10, "range can't iterate over a value of type string"),
        ("{{ base64Decode .Password }}", 1, 4, "error calling base64Decode: illegal base64 data"),
        ("{{ eq .Port .Host }}", 1, 4, "incompatible types for comparison"),
        ("{{ nil }}", 1, 4, "nil is not a command"),
        ("{{/* open", 1, 3, "unclosed comment"),
    ],
)
def test_errors_name_key_and_position(template: str, line: int, column: int, message: str) -> None:
    with pytest.raises(TemplateError) as info:
        render_secret_template("connection-url", template, DATA)
    err = info.value
    assert (err.key, err.line, err.column) == ("connection-url", line, column)
    assert message in err.message
    assert str(err).startswith(f"template 'connection-url', line {line}, column {column}: ")
    assert err.reason == "SecretTemplateError"


@settings(max_examples=200)
@given(
    st.sampled_from(
        [
            "{{ .Password.X }}",
            "{{ range .Password }}{{ end }}",
            "{{ base64Decode .Password }}",
            "{{ index .Password 99 }}",
            "{{ eq .Password 1 }}",
            "{{ .Password 1 }}",
            "{{ lt .Password true }}",
            "{{ upper .Password .Password }}",
            "{{ len .Port }}",
            "{{ slice .Password 9 1 }}",
            "{{ call .Password }}",
            "{{ printf .Port }}",
            "{{ .Password | .Host }}",
        ]
    ),
    st.text(alphabet="§¤¥ʬʭxyz0", min_size=1, max_size=30),
)
def test_error_messages_never_contain_the_password(template: str, password: str) -> None:
    password = "§" + password  # a character no message uses, so a match can only be a leak
    data = SecretTemplateData(username="u", password=password, host="h", port=1)
    try:
        render(template, data)
    except TemplateError as err:
        assert password not in str(err)
    else:  # pragma: no cover - every template above fails
        pytest.fail("expected a TemplateError")


def test_limits() -> None:
    with pytest.raises(TemplateError, match="step limit"):
        render("{{ range 100000000000 }}{{ end }}")
    with pytest.raises(TemplateError, match="larger than 1 MiB"):
        render('{{ range 2000 }}{{ printf "%1000d" 1 }}{{ end }}')
    with pytest.raises(TemplateError, match="nests too deeply"):
        render("{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}")


# --------------------------------------------------------------------------------------------------------------------
# API


def test_parse_once_render_many() -> None:
    tpl = parse_template("k", "{{ .Username }}@{{ .Host }}")
    assert tpl.render(DATA.fields()) == "app_user@db.example.com"
    other = SecretTemplateData(username="x", password="p", host="y", port=1)
    assert tpl.render(other.fields()) == "x@y"


def test_render_secret_data_returns_bytes_per_key() -> None:
    out = render_secret_data(
        {"url": "{{ .Host }}:{{ .Port }}", "bin": '{{ base64Decode "/w==" }}', "user": "{{ .Username }}"}, DATA
    )
    assert list(out) == ["bin", "url", "user"]
    assert out == {"url": b"db.example.com:5432", "bin": b"\xff", "user": b"app_user"}


def test_render_secret_data_names_the_failing_key() -> None:
    with pytest.raises(TemplateError) as info:
        render_secret_data({"good": "{{ .Host }}", "bad": "{{ .Nope }}"}, DATA)
    assert info.value.key == "bad"


def test_render_template_with_other_variables() -> None:
    # the resource-tracking commentFormat of api.md 5.7 uses the same language
    fields = {"Operator": "db-provision-operator", "Namespace": "ns", "Name": "n", "Kind": "Database", "UID": "1"}
    default_format = "managed-by:{{.Operator}},cr:{{.Namespace}}/{{.Name}}"
    assert render_template("commentFormat", default_format, fields) == "managed-by:db-provision-operator,cr:ns/n"
    with pytest.raises(TemplateError, match="can't evaluate field Password"):
        render_template("commentFormat", "{{ .Password }}", fields)
