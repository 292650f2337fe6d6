"""Engine and family names used by the SQL-building layer.

The builders need to know which quoting family and which name limits apply; that depends only on the engine string
of the instance (api.md 1.5, engines.md introduction), so it lives here rather than in the API models.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Engine", "Family", "family_of"]


class Engine(StrEnum):
    """The instance ``engine`` values (engines.md table "Engines and families")."""

    POSTGRES = "postgres"
    COCKROACHDB = "cockroachdb"
    MYSQL = "mysql"
    MARIADB = "mariadb"
    CLICKHOUSE = "clickhouse"


class Family(StrEnum):
    """Engines that share quoting rules and most statement shapes."""

    POSTGRESQL = "postgresql"
    MYSQL = "mysql"
    CLICKHOUSE = "clickhouse"


_FAMILY = {
    Engine.POSTGRES: Family.POSTGRESQL,
    Engine.COCKROACHDB: Family.POSTGRESQL,
    Engine.MYSQL: Family.MYSQL,
    Engine.MARIADB: Family.MYSQL,
    Engine.CLICKHOUSE: Family.CLICKHOUSE,
}


def family_of(engine: Engine) -> Family:
    """The quoting/dialect family an engine belongs to."""
    return _FAMILY[engine]
