"""A permanent refusal to act on an object until something about it changes (behaviour.md 5.1 "Permanent").

Two rules raise it: a reference the consent rule does not allow (`references.ReferenceRefused`, behaviour.md 13),
and a server object that belongs to another resource (`server_ownership.OwnershipConflict`, behaviour.md 7.3).
`KindReconciler.reconcile` turns it into phase Failed with the reason and one `ReconcileFailed` Warning, and at
deletion into releasing the object — its finalizer goes and nothing behind the refusal is touched, as with
deletion policy Retain. Either way nothing has been created, changed or deleted when it is raised.
"""

from __future__ import annotations

__all__ = ["Refused"]


class Refused(Exception):
    """`reason` is the Ready reason; `released_because` completes "released without cleaning up, because …"."""

    released_because = "the object was refused"

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
