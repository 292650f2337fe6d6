"""Annotation and label keys the operator reads and writes (api.md section 2), and the checks on their values."""

from __future__ import annotations

from collections.abc import Mapping

PREFIX = "dbops.dbprovision.io/"
SKIP_RECONCILE = PREFIX + "skip-reconcile"
PAUSE_RECONCILE = PREFIX + "pause-reconcile"
FORCE_DELETE = PREFIX + "force-delete"
CONFIRM_FORCE_DELETE = PREFIX + "confirm-force-delete"
DELETION_POLICY = PREFIX + "deletion-policy"
DELETION_PROTECTION = PREFIX + "deletion-protection"
ALLOW_DESTRUCTIVE_DRIFT = PREFIX + "allow-destructive-drift"
OPERATOR_INSTANCE_ID = PREFIX + "operator-instance-id"

MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "db-provision-operator"
USER_LABEL = PREFIX + "user"
USER_NAMESPACE_LABEL = PREFIX + "user-namespace"


def is_true(annotations: Mapping[str, str] | None, key: str) -> bool:
    """Exactly the string "true" counts (api.md 2.1); any other value means not set."""
    return (annotations or {}).get(key) == "true"


def skipped(annotations: Mapping[str, str] | None) -> bool:
    """skip-reconcile or its alias pause-reconcile is set: the operator does nothing at all for the object."""
    return is_true(annotations, SKIP_RECONCILE) or is_true(annotations, PAUSE_RECONCILE)


def in_partition(labels: Mapping[str, str] | None, instance_id: str) -> bool:
    """behaviour.md 14: handled when the label equals our id, or is absent and our id is `default`."""
    value = (labels or {}).get(OPERATOR_INSTANCE_ID)
    return value == instance_id if value is not None else instance_id == "default"


WATCHED_ANNOTATIONS = (
    SKIP_RECONCILE,
    PAUSE_RECONCILE,
    FORCE_DELETE,
    CONFIRM_FORCE_DELETE,
    DELETION_POLICY,
    DELETION_PROTECTION,
    ALLOW_DESTRUCTIVE_DRIFT,
    PREFIX + "adopt-databases",
    PREFIX + "adopt-users",
    PREFIX + "adopt-roles",
    PREFIX + "adopt-namespace",
)
"""Annotations whose change must wake the object at once (api.md 2.1, last paragraph)."""
