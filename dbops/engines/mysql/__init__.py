"""MySQL and MariaDB (engines.md 4, 5): the adapter and everything only it uses.

`adapter` (the `EngineAdapter` for both engines), `server` (the aiomysql pool and flavour detection), `access`
(roles, memberships, grants), `drift` / `spec` (drift halves and spec → desired state), `rotation` (dual-password
rotation), and the pure builders `sql`, `catalog`, `grants`. Only this package loads aiomysql.
"""
