"""Catalog queries that read PostgreSQL server state (engines.md 1.4, 2.4, 2.5, 2.6, 2.7).

Every query is a constant SQL string with ``$1``-style bind parameters, and every helper returns a ``(sql, params)``
pair ready for the driver: names are never spliced into these queries, so no quoting is involved at all.

Privilege queries expand ACLs with ``aclexplode`` and join the grantee to ``pg_roles``: PUBLIC (grantee 0) drops out,
and only privileges granted *directly* to the role are returned — never those reached through memberships
(engines.md 2.4). An ACL that was never changed is NULL and stands for the object type's default, which
``acldefault`` spells out (this gives the owner its implicit privileges).

CockroachDB reads grants with SHOW GRANTS, whose targets are names, so those are statement builders here too.
"""

from __future__ import annotations

from typing import Final

from dbops.engines.sql.quoting import pg_ident

__all__ = [
    "ACCOUNT_STATE",
    "COCKROACH_EXCLUDED_DATABASES",
    "COCKROACH_EXCLUDED_ROLES",
    "DATABASES_OWNED_BY",
    "DATABASES_WITH_DEPENDENCIES",
    "DATABASE_ACL",
    "DATABASE_ATTRIBUTES",
    "DATABASE_COMMENT",
    "DATABASE_PRIVILEGES",
    "DATABASE_SIZE",
    "DATABASE_SIZES",
    "DATABASE_SIZE_PERMITTED",
    "DEFAULT_PRIVILEGES",
    "EXCLUDED_DATABASES",
    "EXCLUDED_ROLES",
    "EXCLUDED_ROLE_PREFIXES",
    "EXTENSIONS",
    "FUNCTION_ACL",
    "FUNCTION_PRIVILEGES",
    "HAS_PRIVILEGES_OF_ROLE",
    "LIST_DATABASES",
    "LIST_ROLES",
    "OBJECTS_OWNED_BY",
    "PASSWORD_ENCRYPTION",
    "PING",
    "RELATION_ACL",
    "RESOLVE_FUNCTION",
    "ROLE_ATTRIBUTES",
    "ROLE_COMMENT",
    "ROLE_DEPENDENCY_DATABASES",
    "ROLE_MEMBERSHIPS",
    "ROLE_SETTINGS",
    "SCHEMAS",
    "SCHEMA_ACL",
    "SCHEMA_PRIVILEGES",
    "SERVER_VERSION",
    "SERVER_VERSION_NUM",
    "SERVER_VERSION_TEXT",
    "TABLE_PRIVILEGES",
    "TERMINATE_SESSIONS",
    "USER_OBJECT_COUNT",
    "CatalogQuery",
    "account_state",
    "cockroach_show_grants_on_database",
    "cockroach_show_grants_on_role",
    "cockroach_show_grants_on_schema",
    "cockroach_show_grants_on_table",
    "database_acl",
    "database_attributes",
    "database_comment",
    "database_privileges",
    "database_size",
    "database_size_permitted",
    "databases_owned_by",
    "databases_with_dependencies",
    "default_privileges",
    "function_acl",
    "function_privileges",
    "has_privileges_of_role",
    "is_excluded_database",
    "is_excluded_role",
    "objects_owned_by",
    "relation_acl",
    "resolve_function",
    "role_attributes",
    "role_comment",
    "role_dependency_databases",
    "role_memberships",
    "role_settings",
    "schema_acl",
    "schema_privileges",
    "table_privileges",
    "terminate_sessions",
]

#: A query and its bind parameters.
CatalogQuery = tuple[str, tuple[object, ...]]

# --------------------------------------------------------------------------------------------------------------------
# Version and settings (engines.md 1.4, 1.5)

#: PostgreSQL: the value stored in ``status.version``.
SERVER_VERSION: Final = "SHOW server_version"
#: ``version()``: flavour detection (must mention CockroachDB on CockroachDB), and CockroachDB's ``status.version``.
SERVER_VERSION_TEXT: Final = "SELECT version()"
#: Numeric major/minor for version-dependent features (for example ``DROP DATABASE … WITH (FORCE)`` on 13+).
SERVER_VERSION_NUM: Final = "SELECT current_setting('server_version_num')::int"
#: Whether to send SCRAM verifiers (``scram-sha-256``) or plaintext (``md5``).
PASSWORD_ENCRYPTION: Final = "SHOW password_encryption"

# --------------------------------------------------------------------------------------------------------------------
# Databases (engines.md 2.1, 2.4)

DATABASE_ATTRIBUTES: Final = """\
SELECT d.datname AS name,
       pg_get_userbyid(d.datdba) AS owner,
       pg_encoding_to_char(d.encoding) AS encoding,
       d.datcollate AS lc_collate,
       d.datctype AS lc_ctype,
       d.datconnlimit AS connection_limit,
       d.datistemplate AS is_template,
       d.datallowconn AS allow_connections,
       t.spcname AS tablespace
FROM pg_catalog.pg_database d
LEFT JOIN pg_catalog.pg_tablespace t ON t.oid = d.dattablespace
WHERE d.datname = $1"""

#: User objects of the current database: relations (tables, views, sequences, foreign tables) and functions outside
#: the system schemas, leaving out what extensions created (backup.md 10.2, the restore's data-loss guard).
USER_OBJECT_COUNT: Final = """\
SELECT (SELECT count(*) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
          AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'crdb_internal')
          AND n.nspname NOT LIKE 'pg\\_%'
          AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                          WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'))
     + (SELECT count(*) FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'crdb_internal')
          AND n.nspname NOT LIKE 'pg\\_%'
          AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                          WHERE d.classid = 'pg_catalog.pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'))
       AS n"""

#: Size in bytes; NULL when the database does not exist (no error, unlike the function on a missing name).
DATABASE_SIZE: Final = """\
SELECT pg_catalog.pg_database_size(d.oid) AS size_bytes
FROM pg_catalog.pg_database d
WHERE d.datname = $1"""

DATABASE_COMMENT: Final = """\
SELECT pg_catalog.shobj_description(d.oid, 'pg_database') AS comment
FROM pg_catalog.pg_database d
WHERE d.datname = $1"""

#: Every database a connection can be made to, for discovery (filter with :func:`is_excluded_database`).
LIST_DATABASES: Final = """\
SELECT d.datname AS name, d.datistemplate AS is_template, pg_get_userbyid(d.datdba) AS owner
FROM pg_catalog.pg_database d
ORDER BY d.datname"""

# --------------------------------------------------------------------------------------------------------------------
# Inside a database: extensions and schemas

EXTENSIONS: Final = """\
SELECT e.extname AS name, e.extversion AS version, n.nspname AS schema
FROM pg_catalog.pg_extension e
JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
ORDER BY e.extname"""

SCHEMAS: Final = """\
SELECT n.nspname AS name, pg_get_userbyid(n.nspowner) AS owner
FROM pg_catalog.pg_namespace n
WHERE n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
ORDER BY n.nspname"""

# --------------------------------------------------------------------------------------------------------------------
# Roles (engines.md 2.2, 2.4)

ROLE_ATTRIBUTES: Final = """\
SELECT r.rolname AS name,
       r.rolcanlogin AS login,
       r.rolsuper AS superuser,
       r.rolcreatedb AS create_db,
       r.rolcreaterole AS create_role,
       r.rolinherit AS inherit,
       r.rolreplication AS replication,
       r.rolbypassrls AS bypass_rls,
       r.rolconnlimit AS connection_limit,
       r.rolvaliduntil AS valid_until
FROM pg_catalog.pg_roles r
WHERE r.rolname = $1"""

#: Per-role settings that apply in every database (``ALTER ROLE … SET``), one ``name=value`` text per row.
ROLE_SETTINGS: Final = """\
SELECT unnest(s.setconfig) AS setting
FROM pg_catalog.pg_db_role_setting s
JOIN pg_catalog.pg_roles r ON r.oid = s.setrole
WHERE r.rolname = $1 AND s.setdatabase = 0"""

#: Roles the given role is a direct member of.
ROLE_MEMBERSHIPS: Final = """\
SELECT DISTINCT g.rolname AS role
FROM pg_catalog.pg_auth_members m
JOIN pg_catalog.pg_roles g ON g.oid = m.roleid
JOIN pg_catalog.pg_roles u ON u.oid = m.member
WHERE u.rolname = $1
ORDER BY g.rolname"""

ROLE_COMMENT: Final = """\
SELECT pg_catalog.shobj_description(r.oid, 'pg_authid') AS comment
FROM pg_catalog.pg_roles r
WHERE r.rolname = $1"""

#: Everything `observe_account` reads about one role in a single round trip (issue 5): the ROLE_ATTRIBUTES columns,
#: the per-role settings of every database (ROLE_SETTINGS, one ``name=value`` text per element, in stored order), the
#: roles it is a direct member of (ROLE_MEMBERSHIPS, sorted) and its comment (ROLE_COMMENT). No row: no such role.
ACCOUNT_STATE: Final = """\
SELECT r.rolname AS name,
       r.rolcanlogin AS login,
       r.rolsuper AS superuser,
       r.rolcreatedb AS create_db,
       r.rolcreaterole AS create_role,
       r.rolinherit AS inherit,
       r.rolreplication AS replication,
       r.rolbypassrls AS bypass_rls,
       r.rolconnlimit AS connection_limit,
       r.rolvaliduntil AS valid_until,
       ARRAY(SELECT unnest(s.setconfig)
             FROM pg_catalog.pg_db_role_setting s
             WHERE s.setrole = r.oid AND s.setdatabase = 0) AS settings,
       ARRAY(SELECT DISTINCT g.rolname
             FROM pg_catalog.pg_auth_members m
             JOIN pg_catalog.pg_roles g ON g.oid = m.roleid
             WHERE m.member = r.oid
             ORDER BY g.rolname) AS member_of,
       pg_catalog.shobj_description(r.oid, 'pg_authid') AS comment
FROM pg_catalog.pg_roles r
WHERE r.rolname = $1"""

#: Every role, for discovery (filter with :func:`is_excluded_role`); users are those with LOGIN.
LIST_ROLES: Final = """\
SELECT r.rolname AS name, r.rolcanlogin AS login
FROM pg_catalog.pg_roles r
ORDER BY r.rolname"""

# --------------------------------------------------------------------------------------------------------------------
# Privileges held directly by a grantee (engines.md 2.4)

#: Database privileges of grantee $1 on database $2.
DATABASE_PRIVILEGES: Final = """\
SELECT a.privilege_type, a.is_grantable
FROM pg_catalog.pg_database d
CROSS JOIN LATERAL aclexplode(COALESCE(d.datacl, acldefault('d', d.datdba))) a
JOIN pg_catalog.pg_roles g ON g.oid = a.grantee
WHERE g.rolname = $1 AND d.datname = $2
ORDER BY a.privilege_type"""

#: Schema privileges of grantee $1 on every schema of the current database.
SCHEMA_PRIVILEGES: Final = """\
SELECT n.nspname AS schema, a.privilege_type, a.is_grantable
FROM pg_catalog.pg_namespace n
CROSS JOIN LATERAL aclexplode(COALESCE(n.nspacl, acldefault('n', n.nspowner))) a
JOIN pg_catalog.pg_roles g ON g.oid = a.grantee
WHERE g.rolname = $1
ORDER BY n.nspname, a.privilege_type"""

#: Table, view, materialized view, foreign table and sequence privileges of grantee $1 in schema $2. ``kind`` is
#: ``sequence`` for sequences and ``table`` for the others (the target kinds of grant entries).
TABLE_PRIVILEGES: Final = """\
SELECT c.relname AS name,
       CASE WHEN c.relkind = 'S' THEN 'sequence' ELSE 'table' END AS kind,
       a.privilege_type,
       a.is_grantable
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
CROSS JOIN LATERAL aclexplode(COALESCE(c.relacl, acldefault(CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END::"char",
                                                            c.relowner))) a
JOIN pg_catalog.pg_roles g ON g.oid = a.grantee
WHERE g.rolname = $1 AND n.nspname = $2 AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
ORDER BY c.relname, a.privilege_type"""

#: Function and procedure privileges of grantee $1 in schema $2, with the identity argument list of each.
FUNCTION_PRIVILEGES: Final = """\
SELECT p.proname AS name,
       pg_catalog.pg_get_function_identity_arguments(p.oid) AS arguments,
       a.privilege_type,
       a.is_grantable
FROM pg_catalog.pg_proc p
JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
CROSS JOIN LATERAL aclexplode(COALESCE(p.proacl, acldefault('f', p.proowner))) a
JOIN pg_catalog.pg_roles g ON g.oid = a.grantee
WHERE g.rolname = $1 AND n.nspname = $2
ORDER BY p.proname, arguments, a.privilege_type"""

#: Default privileges granted to $1 in the current database. ``object_type`` is the ``pg_default_acl`` code
#: (see ``PG_DEFAULT_ACL_OBJTYPE``); ``schema`` is NULL for entries that apply to every schema.
DEFAULT_PRIVILEGES: Final = """\
SELECT pg_get_userbyid(d.defaclrole) AS granted_by,
       n.nspname AS schema,
       d.defaclobjtype AS object_type,
       a.privilege_type,
       a.is_grantable
FROM pg_catalog.pg_default_acl d
LEFT JOIN pg_catalog.pg_namespace n ON n.oid = d.defaclnamespace
CROSS JOIN LATERAL aclexplode(d.defaclacl) a
JOIN pg_catalog.pg_roles g ON g.oid = a.grantee
WHERE g.rolname = $1
ORDER BY granted_by, schema, object_type, a.privilege_type"""

# --------------------------------------------------------------------------------------------------------------------
# Ownership and cleanup (engines.md 2.5)

#: Databases where the shared dependency catalog lists role $1 (as owner of objects there, or as a grantee).
#: Shared objects (``dbid`` 0) are left out; databases owned by the role come from :data:`DATABASES_OWNED_BY`.
DATABASES_WITH_DEPENDENCIES: Final = """\
SELECT DISTINCT d.datname AS database
FROM pg_catalog.pg_shdepend s
JOIN pg_catalog.pg_database d ON d.oid = s.dbid
JOIN pg_catalog.pg_roles r ON r.oid = s.refobjid
WHERE s.refclassid = 'pg_catalog.pg_authid'::regclass AND r.rolname = $1
ORDER BY d.datname"""

DATABASES_OWNED_BY: Final = """\
SELECT d.datname AS database
FROM pg_catalog.pg_database d
JOIN pg_catalog.pg_roles r ON r.oid = d.datdba
WHERE r.rolname = $1
ORDER BY d.datname"""

#: Objects owned by role $1 in the current database, as (schema, name, type) with the OwnedObject type names.
#: Row and array types are left out (they belong to their table or element type), and so are the system schemas.
OBJECTS_OWNED_BY: Final = """\
WITH owner AS (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = $1),
user_namespaces AS (
    SELECT oid, nspname FROM pg_catalog.pg_namespace
    WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
      AND nspname !~ '^pg_(toast_)?temp_'
)
SELECT n.nspname AS schema, c.relname AS name,
       CASE c.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' WHEN 'S' THEN 'sequence'
                      WHEN 'f' THEN 'foreign table' ELSE 'table' END AS type
FROM pg_catalog.pg_class c
JOIN user_namespaces n ON n.oid = c.relnamespace
WHERE c.relowner = (SELECT oid FROM owner) AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
UNION ALL
SELECT n.nspname, p.proname || '(' || pg_catalog.pg_get_function_identity_arguments(p.oid) || ')',
       CASE p.prokind WHEN 'p' THEN 'procedure' ELSE 'function' END
FROM pg_catalog.pg_proc p
JOIN user_namespaces n ON n.oid = p.pronamespace
WHERE p.proowner = (SELECT oid FROM owner)
UNION ALL
SELECT NULL, n.nspname, 'schema'
FROM user_namespaces n
WHERE n.oid IN (SELECT oid FROM pg_catalog.pg_namespace WHERE nspowner = (SELECT oid FROM owner))
UNION ALL
SELECT n.nspname, t.typname, 'type'
FROM pg_catalog.pg_type t
JOIN user_namespaces n ON n.oid = t.typnamespace
WHERE t.typowner = (SELECT oid FROM owner)
  AND (t.typrelid = 0 OR (SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid = t.typrelid) = 'c')
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_type e WHERE e.oid = t.typelem AND e.typarray = t.oid)
ORDER BY 3, 1, 2"""

# --------------------------------------------------------------------------------------------------------------------
# Ending sessions (engines.md 2.6)

#: End every other session on database $1; returns one row per session with whether it was ended.
TERMINATE_SESSIONS: Final = """\
SELECT a.pid, pg_catalog.pg_terminate_backend(a.pid) AS terminated
FROM pg_catalog.pg_stat_activity a
WHERE a.datname = $1 AND a.pid <> pg_catalog.pg_backend_pid()"""

# --------------------------------------------------------------------------------------------------------------------
# Discovery exclusions (engines.md 2.7, 3)

EXCLUDED_DATABASES: Final = frozenset({"postgres", "template0", "template1"})
EXCLUDED_ROLES: Final = frozenset({"postgres"})
EXCLUDED_ROLE_PREFIXES: Final = ("pg_", "rds", "cloudsql", "azure_", "alloydb")
COCKROACH_EXCLUDED_DATABASES: Final = frozenset({"system", "postgres", "defaultdb"})
COCKROACH_EXCLUDED_ROLES: Final = frozenset({"root", "admin", "node", "public"})


def is_excluded_database(name: str, *, is_template: bool = False, cockroach: bool = False) -> bool:
    """Whether discovery leaves this database out (templates and the system databases)."""
    if cockroach:
        return name in COCKROACH_EXCLUDED_DATABASES
    return is_template or name in EXCLUDED_DATABASES


def is_excluded_role(name: str, *, admin: str | None = None, cockroach: bool = False) -> bool:
    """Whether discovery leaves this role out (system, managed-service and admin roles)."""
    if name == admin:
        return True
    if cockroach:
        return name in COCKROACH_EXCLUDED_ROLES
    return name in EXCLUDED_ROLES or name.startswith(EXCLUDED_ROLE_PREFIXES)


# --------------------------------------------------------------------------------------------------------------------
# (sql, params) helpers


def database_attributes(database: str) -> CatalogQuery:
    return DATABASE_ATTRIBUTES, (database,)


def database_size(database: str) -> CatalogQuery:
    return DATABASE_SIZE, (database,)


def database_comment(database: str) -> CatalogQuery:
    return DATABASE_COMMENT, (database,)


def role_attributes(role: str) -> CatalogQuery:
    return ROLE_ATTRIBUTES, (role,)


def account_state(role: str) -> CatalogQuery:
    return ACCOUNT_STATE, (role,)


def role_settings(role: str) -> CatalogQuery:
    return ROLE_SETTINGS, (role,)


def role_memberships(role: str) -> CatalogQuery:
    return ROLE_MEMBERSHIPS, (role,)


def role_comment(role: str) -> CatalogQuery:
    return ROLE_COMMENT, (role,)


def database_privileges(grantee: str, database: str) -> CatalogQuery:
    return DATABASE_PRIVILEGES, (grantee, database)


def schema_privileges(grantee: str) -> CatalogQuery:
    return SCHEMA_PRIVILEGES, (grantee,)


def table_privileges(grantee: str, schema: str) -> CatalogQuery:
    return TABLE_PRIVILEGES, (grantee, schema)


def function_privileges(grantee: str, schema: str) -> CatalogQuery:
    return FUNCTION_PRIVILEGES, (grantee, schema)


def default_privileges(grantee: str) -> CatalogQuery:
    return DEFAULT_PRIVILEGES, (grantee,)


def databases_with_dependencies(role: str) -> CatalogQuery:
    return DATABASES_WITH_DEPENDENCIES, (role,)


def databases_owned_by(role: str) -> CatalogQuery:
    return DATABASES_OWNED_BY, (role,)


def objects_owned_by(role: str) -> CatalogQuery:
    return OBJECTS_OWNED_BY, (role,)


def terminate_sessions(database: str) -> CatalogQuery:
    return TERMINATE_SESSIONS, (database,)


# --------------------------------------------------------------------------------------------------------------------
# CockroachDB SHOW GRANTS (engines.md 3 "Reading grants")


def cockroach_show_grants_on_database(database: str, grantee: str) -> str:
    return f"SHOW GRANTS ON DATABASE {pg_ident(database, 'database')} FOR {pg_ident(grantee, 'grantee')}"


def cockroach_show_grants_on_schema(schema: str, grantee: str) -> str:
    return f"SHOW GRANTS ON SCHEMA {pg_ident(schema, 'schema')} FOR {pg_ident(grantee, 'grantee')}"


def cockroach_show_grants_on_table(schema: str, table: str, grantee: str) -> str:
    target = f"{pg_ident(schema, 'schema')}.{pg_ident(table, 'table')}"
    return f"SHOW GRANTS ON TABLE {target} FOR {pg_ident(grantee, 'grantee')}"


def cockroach_show_grants_on_role(grantee: str) -> str:
    """Role memberships of ``grantee`` (``SHOW GRANTS ON ROLE … FOR …`` lists the roles granted to it)."""
    return f"SHOW GRANTS ON ROLE FOR {pg_ident(grantee, 'grantee')}"


# --------------------------------------------------------------------------------------------------------------------
# Additions for the adapter: sizes without permission errors, dependency databases, role privileges of the admin

#: The trivial query that verifies a new database accepts sessions (behaviour.md 7.4).
PING: Final = "SELECT 1"

#: ``pg_database_size`` raises "permission denied" unless the session may CONNECT to the database or holds
#: ``pg_read_all_stats``; one such database must not fail the whole size collection (behaviour.md 6.5), so the size
#: is NULL for those instead.
_SIZE_IF_PERMITTED = """\
CASE WHEN pg_catalog.has_database_privilege(d.oid, 'CONNECT') OR pg_catalog.pg_has_role('pg_read_all_stats', 'USAGE')
     THEN pg_catalog.pg_database_size(d.oid) END"""

#: Size in bytes of every database, in one query; ``size_bytes`` is NULL where the admin may not read it.
DATABASE_SIZES: Final = f"""\
SELECT d.datname AS name,
       {_SIZE_IF_PERMITTED} AS size_bytes
FROM pg_catalog.pg_database d
ORDER BY d.datname"""

#: :data:`DATABASE_SIZE` that gives NULL instead of an error where the admin may not read the size.
DATABASE_SIZE_PERMITTED: Final = f"""\
SELECT {_SIZE_IF_PERMITTED} AS size_bytes
FROM pg_catalog.pg_database d
WHERE d.datname = $1"""

#: Databases where ``pg_shdepend`` lists role $1, whether they accept connections (the per-database lookup and
#: cleanup of engines.md 2.5 need a session there), and whether the role *owns* something there (deptype ``o``)
#: rather than only holding privileges or default ACLs.
ROLE_DEPENDENCY_DATABASES: Final = """\
SELECT d.datname AS database,
       d.datallowconn AS allow_connections,
       bool_or(s.deptype = 'o') AS owns_objects
FROM pg_catalog.pg_shdepend s
JOIN pg_catalog.pg_database d ON d.oid = s.dbid
JOIN pg_catalog.pg_roles r ON r.oid = s.refobjid
WHERE s.refclassid = 'pg_catalog.pg_authid'::regclass AND r.rolname = $1
GROUP BY d.datname, d.datallowconn
ORDER BY d.datname"""

#: Whether the session user has the privileges of role $1 (member with inheritance, or superuser): what REASSIGN
#: OWNED, DROP OWNED, ALTER DATABASE on a database owned by $1, and acting FOR ROLE $1 need. No row when the role does
#: not exist.
HAS_PRIVILEGES_OF_ROLE: Final = """\
SELECT pg_catalog.pg_has_role(r.oid, 'USAGE') AS has_privileges
FROM pg_catalog.pg_roles r
WHERE r.rolname = $1"""


def database_size_permitted(database: str) -> CatalogQuery:
    return DATABASE_SIZE_PERMITTED, (database,)


def role_dependency_databases(role: str) -> CatalogQuery:
    return ROLE_DEPENDENCY_DATABASES, (role,)


def has_privileges_of_role(role: str) -> CatalogQuery:
    return HAS_PRIVILEGES_OF_ROLE, (role,)


# --------------------------------------------------------------------------------------------------------------------
# Drift: one object's ACL for one grantee, with the objects where it holds nothing (behaviour.md 11.3)
#
# Unlike the *_PRIVILEGES queries above, these list every object of the scope — a LEFT JOIN keeps objects where the
# grantee holds nothing (privilege_type NULL), which is what "missing" needs — and say whether the grantee owns the
# object (an owner holds everything implicitly; drift skips those). No row at all when the grantee does not exist.

_GRANTEE = "CROSS JOIN (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = $1) g"

#: Database ACL of grantee $1 on database $2.
DATABASE_ACL: Final = f"""\
SELECT d.datdba = g.oid AS owned, a.privilege_type, a.is_grantable
FROM pg_catalog.pg_database d
{_GRANTEE}
LEFT JOIN LATERAL aclexplode(COALESCE(d.datacl, acldefault('d', d.datdba))) a ON a.grantee = g.oid
WHERE d.datname = $2"""

#: Schema ACL of grantee $1 on schema $2 of the current database.
SCHEMA_ACL: Final = f"""\
SELECT n.nspowner = g.oid AS owned, a.privilege_type, a.is_grantable
FROM pg_catalog.pg_namespace n
{_GRANTEE}
LEFT JOIN LATERAL aclexplode(COALESCE(n.nspacl, acldefault('n', n.nspowner))) a ON a.grantee = g.oid
WHERE n.nspname = $2"""

#: Every relation of schema $2 (what ALL TABLES / ALL SEQUENCES IN SCHEMA cover) with the ACL of grantee $1.
RELATION_ACL: Final = f"""\
SELECT c.relname AS name,
       CASE WHEN c.relkind = 'S' THEN 'sequence' ELSE 'table' END AS kind,
       c.relowner = g.oid AS owned,
       a.privilege_type,
       a.is_grantable
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
{_GRANTEE}
LEFT JOIN LATERAL aclexplode(COALESCE(c.relacl, acldefault(CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END::"char",
                                                           c.relowner))) a ON a.grantee = g.oid
WHERE n.nspname = $2 AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
ORDER BY c.relname"""

#: Every function and procedure of schema $2 with its argument types (the server's own formatting) and kind, and
#: the ACL of grantee $1.
FUNCTION_ACL: Final = f"""\
SELECT p.oid::bigint AS oid,
       p.proname AS name,
       pg_catalog.oidvectortypes(p.proargtypes) AS arg_types,
       p.prokind::text AS routine_kind,
       p.proowner = g.oid AS owned,
       a.privilege_type,
       a.is_grantable
FROM pg_catalog.pg_proc p
JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
{_GRANTEE}
LEFT JOIN LATERAL aclexplode(COALESCE(p.proacl, acldefault('f', p.proowner))) a ON a.grantee = g.oid
WHERE n.nspname = $2
ORDER BY p.proname, arg_types"""

#: The oid of a function signature (``"s"."f"(int)``, bound as text), or NULL when there is no such function.
RESOLVE_FUNCTION: Final = "SELECT pg_catalog.to_regprocedure($1)::oid::bigint AS oid"


def database_acl(grantee: str, database: str) -> CatalogQuery:
    return DATABASE_ACL, (grantee, database)


def schema_acl(grantee: str, schema: str) -> CatalogQuery:
    return SCHEMA_ACL, (grantee, schema)


def relation_acl(grantee: str, schema: str) -> CatalogQuery:
    return RELATION_ACL, (grantee, schema)


def function_acl(grantee: str, schema: str) -> CatalogQuery:
    return FUNCTION_ACL, (grantee, schema)


def resolve_function(signature: str) -> CatalogQuery:
    return RESOLVE_FUNCTION, (signature,)
