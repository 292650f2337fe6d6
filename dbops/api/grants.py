"""Grant entries (api.md 5.16), shared by DatabaseGrant, ClusterDatabaseGrant, DatabaseRole, ClusterDatabaseRole
and Database default privileges.

Only the shape is validated here; whether a privilege exists at an entry's level, and whether the level's fields
are present, is checked at reconcile time against the engine allow-lists (engines.md), because the engine is not
known to the schema.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from dbops.api.meta import ApiModel, PrivilegeList

DefaultPrivilegeObjectType = Literal["tables", "sequences", "functions", "types"]
MySQLGrantLevel = Literal["global", "database", "table", "column", "procedure", "function"]
ClickHouseGrantLevel = Literal["global", "database", "table"]


class PostgresGrant(ApiModel):
    """Privileges on a database, a schema, or listed objects in a schema (PostgreSQL, CockroachDB)."""

    database: str = Field(description="Database the entry applies to (the operator connects to it).")
    schema_: str | None = Field(
        None, alias="schema", description="Schema; public when objects are listed and no schema is given."
    )
    tables: list[str] | None = Field(None, description="Table names, or * for all tables in the schema.")
    sequences: list[str] | None = Field(None, description="Sequence names, or * for all sequences in the schema.")
    functions: list[str] | None = Field(None, description="Function names, or * for all functions in the schema.")
    privileges: PrivilegeList = Field(description="Privileges (1-20 upper-case names, e.g. SELECT, CONNECT).")
    with_grant_option: bool = Field(False, description="Grant with GRANT OPTION.")

    @property
    def scope(self) -> Literal["database", "schema", "objects"]:
        """Entry level (api.md 5.16): no schema and no objects = database; schema only = schema; else objects."""
        if self.tables or self.sequences or self.functions:
            return "objects"
        return "schema" if self.schema_ else "database"


class PostgresDefaultPrivilegeGrant(ApiModel):
    """Default privileges on future objects that ``grantedBy`` creates in ``schema``, given to the grantee."""

    database: str = Field(description="Database in which the default privileges are set.")
    schema_: str = Field(alias="schema", description="Schema the default privileges apply to.")
    granted_by: str = Field(description="Role whose future objects are covered.")
    object_type: DefaultPrivilegeObjectType = Field(description="Kind of future objects covered.")
    privileges: PrivilegeList = Field(description="Privileges (1-20 upper-case names).")


class PostgresDefaultPrivilege(ApiModel):
    """Default privileges on future objects of the database owner, given to ``role`` (Database spec)."""

    role: str = Field(description="Grantee role.")
    schema_: str = Field(alias="schema", description="Schema the default privileges apply to.")
    object_type: DefaultPrivilegeObjectType = Field(description="Kind of future objects covered.")
    privileges: PrivilegeList = Field(description="Privileges (1-20 upper-case names).")


class MySQLGrant(ApiModel):
    """Privileges at one level (MySQL, MariaDB)."""

    level: MySQLGrantLevel = Field(description="Grant level.")
    database: str | None = Field(None, description="Schema; required for every level except global.")
    table: str | None = Field(None, description="Table; required for the table and column levels.")
    columns: list[str] | None = Field(None, description="Columns; required for the column level.")
    procedure: str | None = Field(None, description="Procedure name; required for the procedure level.")
    function: str | None = Field(None, description="Function name; required for the function level.")
    privileges: PrivilegeList = Field(description="Privileges (1-20 upper-case names, e.g. SELECT, INSERT).")
    with_grant_option: bool | None = Field(None, description="Grant with GRANT OPTION.")


class ClickHouseGrant(ApiModel):
    """Privileges at one level (ClickHouse)."""

    level: ClickHouseGrantLevel = Field(description="Grant level.")
    database: str | None = Field(None, description="Database; required for the database and table levels.")
    table: str | None = Field(None, description="Table; required for the table level.")
    privileges: PrivilegeList = Field(description="Privileges (1-20 upper-case names, e.g. SELECT, INSERT).")
    with_grant_option: bool | None = Field(None, description="Grant with GRANT OPTION.")
