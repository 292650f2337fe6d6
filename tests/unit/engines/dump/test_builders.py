"""Command builders of backup.md 4.1, 4.2 and 10.5, the plain-script filter, and the dump-method lookup."""

from __future__ import annotations

from pathlib import Path

import pytest

from dbops.api.backup import MySQLBackupConfig, PostgresBackupConfig
from dbops.api.restore import PostgresRestoreConfig
from dbops.engines.connection import ConnectionSettings
from dbops.engines.dump import UnsupportedDumpEngine, dump_method
from dbops.engines.errors import InvalidSpec
from dbops.engines.mysql import dump as my
from dbops.engines.postgres import dump as pg

SECRET = "s3cr#t\"pw'\\"
SETTINGS = ConnectionSettings(engine="postgres", host="db", port=5432, username="admin", password=SECRET, database="x")


def pg_argv(**fields: object) -> tuple[str, ...]:
    options = PostgresBackupConfig(**fields)  # type: ignore[arg-type]
    return pg.pg_dump_command(SETTINGS, "app", options, operator_compression=False).argv


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"format": "custom"}, "--format=c"),
        ({"format": "tar"}, "--format=t"),
        ({"format": "plain"}, "--format=p"),
        ({"data_only": True}, "--data-only"),
        ({"schema_only": True}, "--schema-only"),
        ({"blobs": True}, "--blobs"),
        ({"blobs": False}, "--no-blobs"),
        ({"no_owner": True}, "--no-owner"),
        ({"no_privileges": True}, "--no-privileges"),
        ({"schemas": ["a", "-b"]}, "--schema=-b"),
        ({"exclude_schemas": ["x"]}, "--exclude-schema=x"),
        ({"tables": ["t"]}, "--table=t"),
        ({"exclude_tables": ["u"]}, "--exclude-table=u"),
        ({"lock_wait_timeout": "60s"}, "--lock-wait-timeout=60000"),
        ({"lock_wait_timeout": "2min"}, "--lock-wait-timeout=120000"),
        ({"lock_wait_timeout": "500ms"}, "--lock-wait-timeout=500"),
    ],
)
def test_pg_dump_option_table(fields: dict[str, object], expected: str) -> None:
    argv = pg_argv(**fields)
    assert expected in argv
    assert argv[0] == "pg_dump" and "--verbose" in argv


def test_pg_dump_jobs_outside_directory_is_a_warning_and_compression_off_with_operator_compression() -> None:
    command = pg.pg_dump_command(SETTINGS, "app", PostgresBackupConfig(jobs=4), operator_compression=True)
    assert not any(a.startswith("--jobs") for a in command.argv)
    assert command.warnings and "jobs" in command.warnings[0]
    assert "--compress=0" in command.argv
    plain = pg.pg_dump_command(SETTINGS, "app", PostgresBackupConfig(format="plain"), operator_compression=True)
    assert "--compress=0" not in plain.argv


def test_pg_database_is_a_quoted_conninfo_and_no_secret_on_argv() -> None:
    argv = pg.pg_dump_command(SETTINGS, "host=evil 'x", None, operator_compression=False).argv
    assert "--dbname=dbname='host=evil \\'x'" in argv
    assert not any(SECRET in a for a in argv)
    env = pg.pg_environment(SETTINGS, None)
    assert env["PGPASSWORD"] == SECRET and env["PGSSLMODE"] == "disable"


def test_pg_invalid_options() -> None:
    with pytest.raises(InvalidSpec):
        pg_argv(data_only=True, schema_only=True)
    with pytest.raises(InvalidSpec):
        pg_argv(lock_wait_timeout="soon")


def test_pg_version_check_names_both_versions() -> None:
    pg.check_tool_version("pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)", "14.2")
    with pytest.raises(Exception, match=r"version 17.*version 15"):
        pg.check_tool_version("pg_dump (PostgreSQL) 15.18", "17.1 (Debian)")


def test_pg_restore_commands_and_warnings() -> None:
    argv = pg.pg_restore_command(SETTINGS, "t", "custom", PostgresRestoreConfig(disable_triggers=True, schemas=["s"]))
    assert {"--format=c", "--exit-on-error", "--single-transaction", "--no-owner", "--disable-triggers"} <= set(argv)
    assert "--schema=s" in argv
    psql = pg.psql_restore_command(SETTINGS, "t")
    assert {"--no-psqlrc", "--set=ON_ERROR_STOP=1", "--single-transaction"} <= set(psql)
    warnings = pg.restore_warnings("plain", PostgresRestoreConfig(data_only=True, jobs=2))
    assert len(warnings) == 2
    assert pg.restore_warnings("tar", PostgresRestoreConfig(jobs=2))


def run_filter(script: bytes, chunk: int, **flags: bool) -> bytes:
    f = pg.PlainScriptFilter(no_owner=flags.get("no_owner", True), no_privileges=flags.get("no_privileges", True))
    out = b"".join(f.feed(script[i : i + chunk]) for i in range(0, len(script), chunk))
    return out + f.flush()


SCRIPT = b"""\\restrict abc
SET statement_timeout = 0;
-- Name: t; Type: TABLE; Schema: public; Owner: bob
CREATE TABLE public.t (a text);
ALTER TABLE public.t OWNER TO bob;
CREATE FUNCTION public.f() RETURNS void LANGUAGE sql AS $body$
GRANT SELECT ON public.t TO x; ALTER TABLE public.t OWNER TO y;
$body$;
COPY public.t (a) FROM stdin;
GRANT in data
ALTER TABLE x OWNER TO z;
\\.
INSERT INTO public.t VALUES ('GRANT ''x''; ALTER TABLE q OWNER TO r;');
/* GRANT /* nested */ ; */ SELECT 1;
GRANT SELECT ON TABLE public.t TO alice;
REVOKE ALL ON SCHEMA public FROM PUBLIC;
SET SESSION AUTHORIZATION 'bob';
\\unrestrict abc
"""


@pytest.mark.parametrize("chunk", [1, 7, 200, 1 << 20])
def test_plain_filter_drops_top_level_owner_and_privilege_statements_only(chunk: int) -> None:
    out = run_filter(SCRIPT, chunk)
    assert b"ALTER TABLE public.t OWNER TO bob;" not in out
    assert b"GRANT SELECT ON TABLE public.t TO alice" not in out
    assert b"REVOKE ALL" not in out and b"SET SESSION AUTHORIZATION" not in out
    for kept in (
        b"\\restrict abc\n",
        b"GRANT SELECT ON public.t TO x; ALTER TABLE public.t OWNER TO y;",
        b"COPY public.t (a) FROM stdin;\nGRANT in data\nALTER TABLE x OWNER TO z;\n\\.\n",
        b"VALUES ('GRANT ''x''; ALTER TABLE q OWNER TO r;');",
        b"SELECT 1;",
        b"CREATE TABLE public.t (a text);",
        b"\\unrestrict abc\n",
    ):
        assert kept in out, kept


def test_plain_filter_without_flags_keeps_everything() -> None:
    assert run_filter(SCRIPT, 13, no_owner=False, no_privileges=False) == SCRIPT


def mysql_argv(engine: str = "mysql", **fields: object) -> tuple[str, ...]:
    options = MySQLBackupConfig(**fields)  # type: ignore[arg-type]
    argv, _ = my.dump_command(SETTINGS, "app", options, engine=engine, tool="mysqldump", defaults_file=Path("/p/c"))
    return argv


@pytest.mark.parametrize(
    ("fields", "present", "absent"),
    [
        ({"single_transaction": True}, "--single-transaction", None),
        ({"single_transaction": False}, None, "--single-transaction"),
        ({"quick": True}, "--quick", None),
        ({"lock_tables": True}, "--lock-tables", "--skip-lock-tables"),
        ({"lock_tables": False}, "--skip-lock-tables", "--lock-tables"),
        ({"routines": True}, "--routines", None),
        ({"routines": False}, None, "--routines"),
        ({"triggers": True}, "--triggers", None),
        ({"triggers": False}, "--skip-triggers", "--triggers"),
        ({"events": True}, "--events", None),
        ({"events": False}, None, "--events"),
        ({"extended_insert": True}, "--extended-insert", None),
        ({"extended_insert": False}, "--skip-extended-insert", "--extended-insert"),
        ({"set_gtid_purged": "OFF"}, "--set-gtid-purged=OFF", None),
        ({"exclude_tables": ["big"]}, "--ignore-table=app.big", None),
    ],
)
def test_mysqldump_option_table(fields: dict[str, object], present: str | None, absent: str | None) -> None:
    argv = mysql_argv(**fields)
    assert argv[1] == "--defaults-extra-file=/p/c"
    assert {"--hex-blob", "--default-character-set=utf8mb4", "--no-tablespaces"} <= set(argv)
    assert "--databases" not in argv
    if present:
        assert present in argv
    if absent:
        assert absent not in argv


def test_mysqldump_database_and_tables_after_double_dash_and_mariadb_has_no_gtid() -> None:
    argv = mysql_argv(tables=["a", "b"])
    assert argv[-4:] == ("--", "app", "a", "b")
    assert not any(a.startswith("--set-gtid-purged") for a in mysql_argv("mariadb"))
    assert not any(SECRET in a for a in argv)


def test_option_file_holds_the_escaped_password_and_tls() -> None:
    text = my.option_file(SETTINGS, "mariadb", {})
    assert 'password="s3cr#t\\"pw\'\\\\"' in text and "skip-ssl" in text
    assert "ssl-mode=DISABLED" in my.option_file(SETTINGS, "mysql", {})


def test_restore_preamble_and_postamble() -> None:
    assert my.restore_preamble(None, binlog_allowed=True) == b"SET FOREIGN_KEY_CHECKS=0;\nSET SQL_LOG_BIN=0;\n"
    assert my.restore_preamble(None, binlog_allowed=False) == b"SET FOREIGN_KEY_CHECKS=0;\n"
    assert my.restore_postamble(None) == b"\nSET FOREIGN_KEY_CHECKS=1;\n"


def test_stream_scanner_sees_use_across_chunks() -> None:
    scanner = my.StreamScanner()
    scanner.observe(b"-- x\nUS")
    scanner.observe(b"E `other`;\n")
    assert scanner.redirects


def test_dump_method_lookup() -> None:
    assert type(dump_method("mariadb")).__name__ == "MySQLDumpMethod"
    with pytest.raises(UnsupportedDumpEngine):
        dump_method("clickhouse")
