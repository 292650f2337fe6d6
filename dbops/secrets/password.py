"""Password generation per ``spec.passwordSecret`` (api.md 5.10 PasswordConfig).

The alphabet is ``A-Z a-z 0-9`` plus, with ``includeSpecialChars``, ``-_.~!*$&``: characters that need no escaping
in a URL's userinfo, so a template such as ``postgresql://{{ .Username }}:{{ .Password }}@…`` yields a valid URL even
without ``urlEncode``. ``excludeChars`` removes characters; if nothing is left, the alphanumerics are used.

Each character is drawn independently and uniformly from the alphabet with :mod:`secrets` (a CSPRNG); no character
class is forced in, since that would make the distribution non-uniform for no gain in strength at these lengths.
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from typing import Final

from dbops.engines.errors import InvalidSpec

__all__ = [
    "ALPHANUMERIC",
    "DEFAULT_LENGTH",
    "MAX_LENGTH",
    "MIN_LENGTH",
    "SPECIAL_CHARS",
    "PasswordPolicy",
    "alphabet",
    "generate_password",
]

ALPHANUMERIC: Final = string.ascii_uppercase + string.ascii_lowercase + string.digits
SPECIAL_CHARS: Final = "-_.~!*$&"
DEFAULT_LENGTH: Final = 32
MIN_LENGTH: Final = 8
MAX_LENGTH: Final = 128


@dataclass(frozen=True)
class PasswordPolicy:
    """The generation fields of PasswordConfig, with their schema defaults."""

    length: int = DEFAULT_LENGTH
    include_special_chars: bool = True
    exclude_chars: str = ""


def alphabet(policy: PasswordPolicy) -> str:
    """The characters a generated password is drawn from, in a fixed order, without duplicates."""
    chars = ALPHANUMERIC + (SPECIAL_CHARS if policy.include_special_chars else "")
    excluded = set(policy.exclude_chars)
    remaining = "".join(c for c in chars if c not in excluded)
    return remaining or ALPHANUMERIC


def generate_password(policy: PasswordPolicy | None = None, *, field: str = "spec.passwordSecret.length") -> str:
    """A new password for ``policy`` (defaults when ``None``).

    The length must be within 8 to 128 (the schema also enforces it; the check here keeps a hand-made object from
    producing a weak password).
    """
    policy = policy or PasswordPolicy()
    if isinstance(policy.length, bool) or not isinstance(policy.length, int):
        raise TypeError("length must be an int")
    if not MIN_LENGTH <= policy.length <= MAX_LENGTH:
        raise InvalidSpec(field, f"must be between {MIN_LENGTH} and {MAX_LENGTH}")
    chars = alphabet(policy)
    return "".join(secrets.choice(chars) for _ in range(policy.length))
