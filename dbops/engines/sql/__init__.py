"""Engine-neutral SQL building: no I/O, so every statement can be unit-tested and fuzzed. Each engine's own
builders live in its package (`dbops.engines.postgres.sql`, `…mysql.sql`, `…clickhouse.sql`).

* :mod:`~dbops.engines.sql.dialect` — engine and family names.
* :mod:`~dbops.engines.sql.quoting` — identifier/literal quoting per family, NUL rejection, name-length limits.
* :mod:`~dbops.engines.sql.privileges` — privilege allow-lists, level and object-type tables.
* :mod:`~dbops.engines.sql.redact` — removal of secrets from server messages.

Validation failures raise :class:`dbops.engines.errors.InvalidSpec` with the offending field path.
"""
