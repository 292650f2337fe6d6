"""PostgreSQL (engines.md 2): the adapter and everything only it uses.

`adapter` (the `EngineAdapter`), `server` (the asyncpg pools), `errors` (SQLSTATE → engine errors), `access`
(roles, memberships, grants), `plan` / `mapping` (spec → planned statements, server rows → observed state),
`rotation` (role-inheritance rotation), and the pure builders `sql`, `catalog`, `grants`, `scram`. CockroachDB
reuses the builders and the adapter (`dbops.engines.cockroach`). Importing this package loads asyncpg only through
`server`; nothing outside PostgreSQL and CockroachDB imports it.
"""
