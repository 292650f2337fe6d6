"""Pure SQL-building functions: no I/O, so every statement can be unit-tested and fuzzed.

* :mod:`~dbops.engines.sql.dialect` — engine and family names.
* :mod:`~dbops.engines.sql.quoting` — identifier/literal quoting per family, NUL rejection, name-length limits.
* :mod:`~dbops.engines.sql.privileges` — privilege allow-lists, level and object-type tables.
* :mod:`~dbops.engines.sql.postgres` — PostgreSQL/CockroachDB databases, roles, memberships, cleanup.
* :mod:`~dbops.engines.sql.postgres_grants` — GRANT/REVOKE entries and default privileges.
* :mod:`~dbops.engines.sql.postgres_catalog` — catalog queries with bind parameters.
* :mod:`~dbops.engines.sql.scram` — SCRAM-SHA-256 verifiers, so plaintext passwords never reach the server.
* :mod:`~dbops.engines.sql.redact` — removal of secrets from server messages.

Validation failures raise :class:`dbops.engines.errors.InvalidSpec` with the offending field path.
"""
