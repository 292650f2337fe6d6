"""Auto-ownership on PostgreSQL end to end (behaviour.md 7.6, 7.8): the owner role owns the database, the app user
gets its password from a DatabaseUser that takes it over, and each side can use what the other creates."""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg

from tests.conftest import Kubectl
from tests.e2e.conftest import Operator, condition, events, get, wait_for
from tests.e2e.test_initsql import ready_instance, superuser  # noqa: F401  (fixtures)
from tests.support.env import DevEnv


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def manifest(kind: str, name: str, spec: dict[str, Any]) -> str:
    return json.dumps(
        {"apiVersion": "dbops.dbprovision.io/v1alpha1", "kind": kind, "metadata": {"name": name}, "spec": spec}
    )


def phase(kubectl: Kubectl, kind: str, namespace: str, name: str) -> Any:
    return ((get(kubectl, kind, namespace, name) or {}).get("status") or {}).get("phase")


def secret_data(kubectl: Kubectl, namespace: str, name: str) -> dict[str, str]:
    import base64

    obj = get(kubectl, "secret", namespace, name) or {}
    return {k: base64.b64decode(v).decode() for k, v in (obj.get("data") or {}).items()}


async def connect(dev_env: DevEnv, database: str, user: str | None = None, password: str | None = None) -> Any:
    pg = dev_env.postgres
    return await asyncpg.connect(
        host=pg.host,
        port=pg.port,
        user=user or pg.superuser,
        password=password if user else pg.superuser_password,
        database=database,
    )


async def test_auto_ownership_owner_role_app_user_and_default_privileges_both_ways(
    kubectl: Kubectl,
    namespace: str,
    ready_instance: str,  # noqa: F811
    operator: Operator,
    superuser: Any,  # noqa: F811
    dev_env: DevEnv,
) -> None:
    db = unique("own")
    role, app = f"db_{db}_owner", f"db_{db}_app"
    spec = {
        "instanceRef": {"name": "pg"},
        "name": db,
        "deletionPolicy": "Delete",
        "deletionProtection": False,
        "postgres": {
            "schemas": [{"name": "reporting"}],
            "ownership": {"autoOwnership": True, "dropOnDelete": True},
        },
        "initSQL": {"inline": ["CREATE TABLE IF NOT EXISTS reporting.owned_by_owner (id serial PRIMARY KEY, v text)"]},
    }
    kubectl("apply", "-n", namespace, "-f", "-", input=manifest("Database", "owned", spec))
    wait_for(lambda: phase(kubectl, "db", namespace, "owned") == "Ready", 60, "the Database to be Ready")
    obj = get(kubectl, "db", namespace, "owned")
    assert obj is not None
    assert obj["status"]["postgres"]["ownership"] == {
        "roleName": role,
        "userName": app,
        "phase": "Ready",
        "message": "owner role and app user in place; default privileges set both ways",
        "created": sorted([app, role]),  # what dropOnDelete may drop
    }
    assert condition(obj, "OptionsHonored")["status"] == "True"  # no longer reported as unsupported
    assert not events(kubectl, namespace, "owned", "UnsupportedOption")

    roles = {
        r["rolname"]: r
        for r in await superuser.fetch(
            "SELECT rolname, rolcanlogin, rolinherit, rolpassword IS NULL AS no_password "
            "FROM pg_authid WHERE rolname = ANY($1::text[])",
            [role, app],
        )
    }
    assert (roles[role]["rolcanlogin"], roles[role]["rolinherit"]) == (False, True)
    assert (roles[app]["rolcanlogin"], roles[app]["rolinherit"], roles[app]["no_password"]) == (True, True, True)
    assert await superuser.fetchval("SELECT pg_has_role($1, $2, 'MEMBER')", app, role)
    assert await superuser.fetchval("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = $1", db) == role

    inside = await connect(dev_env, db)
    try:
        assert (
            await inside.fetchval("SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'reporting'")
            == role
        )
        # initSQL ran as the owner role.
        assert (
            await inside.fetchval(
                "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = 'reporting.owned_by_owner'::regclass"
            )
            == role
        )
        acl = {
            (r["creator"], r["schema"], r["type"], r["grantee"])
            for r in await inside.fetch(
                "SELECT pg_get_userbyid(d.defaclrole) AS creator, n.nspname AS schema, d.defaclobjtype::text AS type, "
                "pg_get_userbyid(a.grantee) AS grantee "
                "FROM pg_default_acl d JOIN pg_namespace n ON n.oid = d.defaclnamespace, aclexplode(d.defaclacl) a"
            )
        }
        for schema in ("public", "reporting"):
            for kind in ("r", "S", "f"):
                assert (role, schema, kind, app) in acl
                assert (app, schema, kind, role) in acl
    finally:
        await inside.close()

    # The app user gets a password by being declared as a DatabaseUser (taken over, behaviour.md 7.6).
    user_spec = {"instanceRef": {"name": "pg"}, "username": app}
    kubectl("apply", "-n", namespace, "-f", "-", input=manifest("DatabaseUser", "app", user_spec))
    wait_for(lambda: phase(kubectl, "dbu", namespace, "app") == "Ready", 60, "the app DatabaseUser to be Ready")
    credentials = secret_data(kubectl, namespace, app.replace("_", "-") + "-credentials")
    assert credentials["username"] == app

    as_app = await connect(dev_env, db, app, credentials["password"])
    try:
        assert await as_app.fetchval("SELECT current_user") == app
        # App → owner: a table the app user creates is usable by the owner role (reverse default privileges).
        await as_app.execute("CREATE TABLE public.made_by_app (id serial PRIMARY KEY, v text)")
        await as_app.execute("INSERT INTO public.made_by_app (v) VALUES ('from app')")
        # Owner → app: what the owner role created is usable by the app user.
        await as_app.execute("INSERT INTO reporting.owned_by_owner (v) VALUES ('from app')")
        assert await as_app.fetchval("SELECT count(*) FROM reporting.owned_by_owner") == 1
    finally:
        await as_app.close()

    owner_session = await connect(dev_env, db)
    try:
        await owner_session.execute(f'SET ROLE "{role}"')
        await owner_session.execute("INSERT INTO public.made_by_app (v) VALUES ('from owner')")  # sequence too
        assert await owner_session.fetchval("SELECT count(*) FROM public.made_by_app") == 2
        await owner_session.execute("CREATE TABLE public.made_by_owner (id serial PRIMARY KEY)")
        await owner_session.execute("RESET ROLE")
        owner_can = await owner_session.fetchval(
            "SELECT has_table_privilege($1, 'public.made_by_app', 'SELECT,INSERT,UPDATE,DELETE')", role
        )
        assert owner_can
        app_can = await owner_session.fetchval(
            "SELECT has_table_privilege($1, 'public.made_by_owner', 'SELECT,INSERT,UPDATE,DELETE')", app
        )
        assert app_can
    finally:
        await owner_session.close()

    # dropOnDelete drops the owner role; the app user is managed by the DatabaseUser and is spared.
    kubectl("delete", "db", "owned", "-n", namespace, "--wait=false")
    wait_for(lambda: get(kubectl, "db", namespace, "owned") is None, 60, "the Database to be deleted")
    assert await superuser.fetchval("SELECT count(*) FROM pg_database WHERE datname = $1", db) == 0
    assert await superuser.fetchval("SELECT count(*) FROM pg_roles WHERE rolname = $1", role) == 0
    assert await superuser.fetchval("SELECT count(*) FROM pg_roles WHERE rolname = $1", app) == 1
    kubectl("delete", "dbu", "app", "-n", namespace, "--wait=false")
    wait_for(lambda: get(kubectl, "dbu", namespace, "app") is None, 60, "the app DatabaseUser to be deleted")
    assert await superuser.fetchval("SELECT count(*) FROM pg_roles WHERE rolname = $1", app) == 0


async def test_drop_on_delete_keeps_an_owner_role_that_existed_before(
    kubectl: Kubectl,
    namespace: str,
    ready_instance: str,  # noqa: F811
    superuser: Any,  # noqa: F811
    dev_env: DevEnv,
) -> None:
    """Issue 13: auto-ownership uses a role of the chosen name when it exists; dropOnDelete then drops only what the
    Database created (`status.postgres.ownership.created`), never a role somebody else made."""
    db, existing = unique("prior"), unique("team_owner")
    await superuser.execute(f'CREATE ROLE "{existing}" NOLOGIN')
    await superuser.execute(f'GRANT "{existing}" TO "{dev_env.postgres.admin_user}"')
    app = f"db_{db}_app"
    spec = {
        "instanceRef": {"name": "pg"},
        "name": db,
        "deletionPolicy": "Delete",
        "deletionProtection": False,
        "postgres": {"ownership": {"autoOwnership": True, "dropOnDelete": True, "roleName": existing}},
    }
    try:
        kubectl("apply", "-n", namespace, "-f", "-", input=manifest("Database", "prior", spec))
        wait_for(lambda: phase(kubectl, "db", namespace, "prior") == "Ready", 60, "the Database to be Ready")
        obj = get(kubectl, "db", namespace, "prior") or {}
        assert obj["status"]["postgres"]["ownership"]["created"] == [app], obj["status"]
        kubectl("delete", "db", "prior", "-n", namespace, "--wait=false")
        wait_for(lambda: get(kubectl, "db", namespace, "prior") is None, 60, "the Database to be deleted")
        assert await superuser.fetchval("SELECT count(*) FROM pg_database WHERE datname = $1", db) == 0
        assert await superuser.fetchval("SELECT count(*) FROM pg_roles WHERE rolname = $1", app) == 0
        assert await superuser.fetchval("SELECT count(*) FROM pg_roles WHERE rolname = $1", existing) == 1
    finally:
        await superuser.execute(f'DROP ROLE IF EXISTS "{existing}"')


async def test_a_derived_name_that_is_too_long_fails_with_invalid_spec(
    kubectl: Kubectl,
    namespace: str,
    ready_instance: str,  # noqa: F811
    superuser: Any,  # noqa: F811
) -> None:
    db = "n" + uuid.uuid4().hex[:8] + "x" * 46  # db_<55 characters>_owner is 64 bytes
    spec = {
        "instanceRef": {"name": "pg"},
        "name": db,
        "deletionProtection": False,
        "postgres": {"ownership": {"autoOwnership": True}},
    }
    kubectl("apply", "-n", namespace, "-f", "-", input=manifest("Database", "long", spec))
    wait_for(lambda: phase(kubectl, "db", namespace, "long") == "Failed", 60, "the Database to fail")
    ready = condition(get(kubectl, "db", namespace, "long"), "Ready")
    assert ready["reason"] == "InvalidSpec" and "spec.postgres.ownership.roleName" in ready["message"]
    assert await superuser.fetchval("SELECT count(*) FROM pg_database WHERE datname = $1", db) == 0
