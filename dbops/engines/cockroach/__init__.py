"""CockroachDB (engines.md 3): the PostgreSQL adapter with the cluster's differences."""
