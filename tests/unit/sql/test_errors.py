"""InvalidSpec carries the field path apart from the message."""

from __future__ import annotations

from dbops.engines.errors import InvalidSpec


def test_str_and_attributes() -> None:
    err = InvalidSpec("spec.postgres.grants[1].privileges[0]", "privilege 'X' is not on the allow-list")
    assert err.field == "spec.postgres.grants[1].privileges[0]"
    assert err.message == "privilege 'X' is not on the allow-list"
    assert err.reason == "InvalidSpec"
    assert str(err) == "spec.postgres.grants[1].privileges[0]: privilege 'X' is not on the allow-list"
    assert isinstance(err, ValueError)


def test_without_field() -> None:
    assert str(InvalidSpec("", "bad")) == "bad"


def test_at_re_roots_the_path() -> None:
    assert InvalidSpec("privileges[2]", "m").at("spec.postgres.grants[3]").field == (
        "spec.postgres.grants[3].privileges[2]"
    )
    assert InvalidSpec("[2]", "m").at("spec.roles").field == "spec.roles[2]"
    assert InvalidSpec("", "m").at("spec.name").field == "spec.name"
    assert InvalidSpec("name", "m").at("").field == "name"
    assert InvalidSpec("name", "m").at("spec").message == "m"
