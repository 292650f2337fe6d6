"""Names of the Secrets a DatabaseUser owns (api.md 5.10, behaviour.md 8.5).

Kept beside password generation because both are the runtime defaults of the PasswordConfig block.
"""

from __future__ import annotations

__all__ = ["credentials_secret_name", "password_source_secret_name"]


def credentials_secret_name(username: str) -> str:
    """Default credentials Secret: ``<username>-credentials``, lower-cased with ``_`` replaced by ``-``.

    Usernames match ``^[a-zA-Z_][a-zA-Z0-9_]*$``, so this always yields a valid Secret name (DNS subdomain), except
    for a leading ``_``, which becomes a leading ``-`` and is stripped.
    """
    return f"{username}-credentials".lower().replace("_", "-").lstrip("-")


def password_source_secret_name(secret_name: str) -> str:
    """The password-source Secret used with template data: ``<secretName>-dbops-source``."""
    return f"{secret_name}-dbops-source"
