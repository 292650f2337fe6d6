"""Trust boundaries through the operator process (issue 13, items 1-3), with two tenants' namespaces:

* a reference into another namespace needs that side's consent (behaviour.md 13): an instance's
  `spec.allowedNamespaces`, a namespace's `dbops.dbprovision.io/allow-references-from` annotation; without it the
  object fails with `ReferenceNotAllowed`, one Warning, and nothing is created, read or deleted;
* a DatabaseUser never deletes a Secret in another namespace that is not its own, even with consent;
* a Secret template cannot override the labels that prove ownership."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dbops.secrets.naming import credentials_secret_name
from tests.conftest import Kubectl
from tests.e2e.conftest import Operator, condition, events, get, wait_for
from tests.e2e.test_database_user import (  # noqa: F401 (fixtures)
    database,
    login,
    phase,
    ready_instance,
    secret_data,
    superuser,
    unique,
    user,
)
from tests.e2e.test_instance import admin_secret, instance
from tests.support.env import DevEnv

USER_LABEL = "dbops.dbprovision.io/user"
CONSENT = "dbops.dbprovision.io/allow-references-from"
MANAGED_BY = "app.kubernetes.io/managed-by"


@pytest.fixture
def other_tenant(namespace: str, kubectl: Kubectl) -> Iterator[str]:
    """A second tenant's namespace, holding Secrets the first tenant's objects must never touch."""
    name = f"{namespace[:50]}-other"
    kubectl("create", "namespace", name)
    yield name
    kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


def consent(kubectl: Kubectl, namespace: str, referrer: str) -> None:
    kubectl("annotate", "--overwrite", "namespace", namespace, f"{CONSENT}={referrer}")


def refused(
    kubectl: Kubectl, kind: str, namespace: str, name: str, reason: str = "ReferenceNotAllowed"
) -> dict[str, Any]:
    """Wait until the object is refused with `reason`; return its Ready condition."""
    return dict(
        wait_for(
            lambda: (c := condition(get(kubectl, kind, namespace, name), "Ready")).get("reason") == reason and c,
            60,
            f"{kind} {name} to be refused with {reason}",
        )
    )


@pytest.fixture
def foreign_instance(kubectl: Kubectl, other_tenant: str, operator: Operator, dev_env: DevEnv) -> str:
    """A Ready DatabaseInstance in the other tenant's namespace, shared with nobody yet."""
    kubectl(
        "apply", "-n", other_tenant, "-f", "-", input=admin_secret(dev_env) + "---\n" + instance(dev_env, interval=30)
    )
    wait_for(lambda: phase(kubectl, "dbi", other_tenant, "pg") == "Ready", 60, "the other tenant's instance")
    return "pg"


async def test_an_instance_in_another_namespace_needs_its_consent(
    kubectl: Kubectl,
    namespace: str,
    other_tenant: str,
    foreign_instance: str,
    superuser: Any,  # noqa: F811
) -> None:
    db_name, username = unique("borrowed"), unique("borrower")
    ref = f"  instanceRef: {{name: pg, namespace: {other_tenant}}}\n"
    kubectl("apply", "-n", namespace, "-f", "-",
            input=database("borrowed", db_name).replace("  instanceRef: {name: pg}\n", ref))  # fmt: skip
    kubectl("apply", "-n", namespace, "-f", "-",
            input=user("borrower", username).replace("  instanceRef: {name: pg}\n", ref))  # fmt: skip
    for kind, name in (("db", "borrowed"), ("dbu", "borrower")):
        ready = refused(kubectl, kind, namespace, name)
        assert ready["message"] == (
            f"namespace {namespace} may not use DatabaseInstance {other_tenant}/pg: add {namespace} to its "
            "spec.allowedNamespaces"
        ), ready
        assert phase(kubectl, kind, namespace, name) == "Failed"
        warnings = events(kubectl, namespace, name, "ReconcileFailed")
        assert len(warnings) == 1 and warnings[0]["type"] == "Warning", warnings
    # Nothing was created: no database, no account, no credentials Secret.
    assert await superuser.fetchval("SELECT count(*) FROM pg_database WHERE datname = $1", db_name) == 0
    assert await superuser.fetchval("SELECT count(*) FROM pg_roles WHERE rolname = $1", username) == 0
    assert get(kubectl, "secret", namespace, credentials_secret_name(username)) is None

    # Consent on the instance wakes both (its spec changed while Ready) and they converge.
    patch = json.dumps({"spec": {"allowedNamespaces": [namespace]}})
    kubectl("patch", "dbi", "pg", "-n", other_tenant, "--type=merge", "-p", patch)
    for kind, name in (("db", "borrowed"), ("dbu", "borrower")):
        wait_for(lambda k=kind, n=name: phase(kubectl, k, namespace, n) == "Ready", 60, f"{kind} {name} Ready")
    assert await superuser.fetchval("SELECT count(*) FROM pg_database WHERE datname = $1", db_name) == 1


def test_a_secret_in_another_namespace_needs_that_namespaces_consent(
    kubectl: Kubectl,
    namespace: str,
    other_tenant: str,
    ready_instance: str,  # noqa: F811
) -> None:
    kubectl("create", "secret", "generic", "their-password", "-n", other_tenant, "--from-literal=pw=theirs")
    reader = f"  existingPasswordSecret: {{name: their-password, key: pw, namespace: {other_tenant}}}\n"
    reader += "  passwordSecret: {generate: false, secretName: reader-login}\n"
    writer = f"  passwordSecret: {{secretName: planted, secretNamespace: {other_tenant}}}\n"
    reader_name, reader_secret = unique("reader"), "reader-login"
    kubectl("apply", "-n", namespace, "-f", "-", input=user("reader", reader_name, reader))
    kubectl("apply", "-n", namespace, "-f", "-", input=user("writer", unique("writer"), writer))
    for name, field, secret in (
        ("reader", "spec.existingPasswordSecret.namespace", "their-password"),
        ("writer", "spec.passwordSecret.secretNamespace", "planted"),
    ):
        ready = refused(kubectl, "dbu", namespace, name)
        assert ready["message"] == (
            f"namespace {namespace} may not use Secret {other_tenant}/{secret} ({field}): annotate namespace "
            f"{other_tenant} with {CONSENT}={namespace}"
        ), ready
        assert len(events(kubectl, namespace, name, "ReconcileFailed")) == 1
    assert get(kubectl, "secret", other_tenant, "planted") is None  # nothing written there
    assert get(kubectl, "secret", namespace, reader_secret) is None  # nothing read from there

    consent(kubectl, other_tenant, namespace)  # the namespace watch wakes both
    for name in ("reader", "writer"):
        wait_for(lambda n=name: phase(kubectl, "dbu", namespace, n) == "Ready", 60, f"user {name} Ready")
    assert secret_data(kubectl, other_tenant, "planted")["password"]
    assert secret_data(kubectl, namespace, reader_secret)["password"] == "theirs"


def test_deleting_a_user_never_deletes_another_namespaces_foreign_secret(
    kubectl: Kubectl,
    namespace: str,
    other_tenant: str,
    ready_instance: str,  # noqa: F811
) -> None:
    foreign = "db-password"
    consent(kubectl, other_tenant, namespace)  # even a consenting namespace keeps the Secrets that are not ours
    for name in (foreign, f"{foreign}-dbops-source"):
        kubectl("create", "secret", "generic", name, "-n", other_tenant, "--from-literal=password=theirs")
    extra = f"  passwordSecret: {{secretName: {foreign}, secretNamespace: {other_tenant}}}\n"
    kubectl("apply", "-n", namespace, "-f", "-", input=user("intruder", unique("intruder"), extra))
    wait_for(
        lambda: condition(get(kubectl, "dbu", namespace, "intruder"), "Ready").get("reason") == "SecretConflict",
        60,
        "SecretConflict",
    )
    kubectl("delete", "dbu", "intruder", "-n", namespace, "--wait=false")
    wait_for(lambda: get(kubectl, "dbu", namespace, "intruder") is None, 60, "the user to be deleted")
    for name in (foreign, f"{foreign}-dbops-source"):
        assert secret_data(kubectl, other_tenant, name) == {"password": "theirs"}, name


def test_deleting_a_user_deletes_its_own_secret_in_another_namespace(
    kubectl: Kubectl,
    namespace: str,
    other_tenant: str,
    ready_instance: str,  # noqa: F811
) -> None:
    """The control case of the test above: the ownership check still lets a user clean up what it wrote."""
    consent(kubectl, other_tenant, namespace)
    extra = f"  passwordSecret: {{secretName: app-login, secretNamespace: {other_tenant}}}\n"
    kubectl("apply", "-n", namespace, "-f", "-", input=user("remote", unique("remote"), extra))
    wait_for(lambda: phase(kubectl, "dbu", namespace, "remote") == "Ready", 60, "the user to become Ready")
    assert secret_data(kubectl, other_tenant, "app-login")["password"]
    kubectl("delete", "dbu", "remote", "-n", namespace, "--wait=false")
    wait_for(lambda: get(kubectl, "dbu", namespace, "remote") is None, 60, "the user to be deleted")
    assert get(kubectl, "secret", other_tenant, "app-login") is None


def test_a_template_cannot_override_the_ownership_labels(
    kubectl: Kubectl,
    namespace: str,
    ready_instance: str,  # noqa: F811
) -> None:
    extra = f"""  passwordSecret:
    secretName: labelled
    secretTemplate:
      labels: {{"{USER_LABEL}": someone-else, "{MANAGED_BY}": me, team: payments}}
"""
    kubectl("apply", "-n", namespace, "-f", "-", input=user("labelled", unique("labelled"), extra))
    wait_for(lambda: phase(kubectl, "dbu", namespace, "labelled") == "Ready", 60, "the user to become Ready")
    labels = (get(kubectl, "secret", namespace, "labelled") or {})["metadata"]["labels"]
    assert labels[USER_LABEL] == "labelled" and labels[MANAGED_BY] == "db-provision-operator", labels
    assert labels["team"] == "payments", labels
    warnings = events(kubectl, namespace, "labelled", "SecretTemplateError")
    assert len(warnings) == 1 and warnings[0]["type"] == "Warning", warnings
    message = warnings[0]["message"]
    assert USER_LABEL in message and MANAGED_BY in message, message


async def test_a_go_operator_password_annotation_is_migrated_and_removed(
    kubectl: Kubectl,
    namespace: str,
    ready_instance: str,  # noqa: F811
    dev_env: DevEnv,
) -> None:
    """api.md 1.7: the password in `managed-password` moves into the password-source Secret, the annotation goes,
    and the account keeps working with that password."""
    username, legacy = unique("legacy"), "legacy-Passw0rd-from-go"
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "legacy-login",
            "labels": {MANAGED_BY: "db-provision-operator", USER_LABEL: "legacy"},
            "annotations": {"dbops.dbprovision.io/managed-password": legacy},
        },
        "stringData": {"url": "stale"},
    }
    kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(secret))
    extra = """  passwordSecret:
    secretName: legacy-login
    secretTemplate:
      data: {url: "{{ .Username }}:{{ .Password }}"}
"""
    kubectl("apply", "-n", namespace, "-f", "-", input=user("legacy", username, extra))
    wait_for(lambda: phase(kubectl, "dbu", namespace, "legacy") == "Ready", 60, "the user to become Ready")
    stored = get(kubectl, "secret", namespace, "legacy-login") or {}
    assert "dbops.dbprovision.io/managed-password" not in (stored["metadata"].get("annotations") or {})
    assert secret_data(kubectl, namespace, "legacy-login") == {"url": f"{username}:{legacy}"}
    assert secret_data(kubectl, namespace, "legacy-login-dbops-source") == {"password": legacy}
    assert await login(dev_env, username, legacy)
    for event in events(kubectl, namespace, "legacy"):
        assert legacy not in event["message"], event


def test_the_ca_variable_is_the_instances_ca_and_client_tls_material_is_refused(
    kubectl: Kubectl, namespace: str, operator: Operator, dev_env: DevEnv
) -> None:
    ca = Path(str(dev_env.postgres.ca_file)).read_text()
    kubectl("create", "secret", "generic", "pg-tls", "-n", namespace, f"--from-literal=ca.crt={ca}")
    tls = "  tls: {enabled: true, mode: verify-ca, secretRef: {name: pg-tls}}\n  postgres: {sslMode: verify-ca}\n"
    manifests = (
        admin_secret(dev_env)
        + "---\n"
        + instance(dev_env, interval=30).replace("  postgres: {sslMode: require}\n", tls)
    )
    kubectl("apply", "-n", namespace, "-f", "-", input=manifests)
    wait_for(lambda: phase(kubectl, "dbi", namespace, "pg") == "Ready", 60, "the TLS instance to become Ready")
    template = (
        '  passwordSecret:\n    secretName: {name}\n    secretTemplate:\n      data: {{"{key}": "{{{{ {var} }}}}"}}\n'
    )
    with_ca = template.format(name="with-ca", key="ca.crt", var=".CA")
    kubectl("apply", "-n", namespace, "-f", "-", input=user("with-ca", unique("with_ca"), with_ca))
    wait_for(lambda: phase(kubectl, "dbu", namespace, "with-ca") == "Ready", 60, "the user to become Ready")
    assert secret_data(kubectl, namespace, "with-ca") == {"ca.crt": ca}
    with_key = (
        '  passwordSecret:\n    secretName: with-key\n    secretTemplate:\n      data: {"tls.key": "{{ .TLSKey }}"}\n'
    )
    kubectl("apply", "-n", namespace, "-f", "-", input=user("with-key", unique("with_key"), with_key))
    wait_for(
        lambda: condition(get(kubectl, "dbu", namespace, "with-key"), "Ready").get("reason") == "SecretTemplateError",
        60,
        "SecretTemplateError",
    )
    assert get(kubectl, "secret", namespace, "with-key") is None


def test_nul_bytes_and_invalid_utf8_in_secret_data_become_conditions(
    kubectl: Kubectl, namespace: str, operator: Operator, dev_env: DevEnv
) -> None:
    """Secret data is bytes; what cannot be a password is refused by name, and the operator keeps running."""
    broken_admin = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "pg-admin"},
        "data": {"username": "ZGJvcHNfYWRtaW4=", "password": "//5hYg=="},  # b"\xff\xfeab"
    }
    kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(broken_admin))
    kubectl("apply", "-n", namespace, "-f", "-", input=instance(dev_env, interval=30))
    wait_for(
        lambda: condition(get(kubectl, "dbi", namespace, "pg"), "Connected").get("reason") == "CredentialsError",
        60,
        "the instance to report CredentialsError",
    )
    message = condition(get(kubectl, "dbi", namespace, "pg"), "Connected")["message"]
    assert f"Secret {namespace}/pg-admin key 'password' is not valid UTF-8 text" in message, message

    # A user on a working instance whose supplied password holds a NUL byte.
    kubectl("apply", "-n", namespace, "-f", "-", input=admin_secret(dev_env, "good-admin"))
    good = instance(dev_env, name="good", secret="good-admin", interval=30)
    kubectl("apply", "-n", namespace, "-f", "-", input=good)
    wait_for(lambda: phase(kubectl, "dbi", namespace, "good") == "Ready", 60, "the working instance")
    nul = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "nul-pw"}, "data": {"pw": "YWIAY2Q="}}
    kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(nul))
    supplied = (
        "  existingPasswordSecret: {name: nul-pw, key: pw}\n  passwordSecret: {generate: false, secretName: nul}\n"
    )
    manifest = user("nul", unique("nul"), supplied).replace("instanceRef: {name: pg}", "instanceRef: {name: good}")
    kubectl("apply", "-n", namespace, "-f", "-", input=manifest)
    wait_for(
        lambda: condition(get(kubectl, "dbu", namespace, "nul"), "Ready").get("reason") == "InvalidSpec",
        60,
        "the user to be refused with InvalidSpec",
    )
    ready = condition(get(kubectl, "dbu", namespace, "nul"), "Ready")
    assert ready["message"] == f"spec.existingPasswordSecret: Secret {namespace}/nul-pw key 'pw' contains a NUL byte"
    assert len(events(kubectl, namespace, "nul", "ReconcileFailed")) == 1
    assert operator.process.poll() is None  # no crash


async def test_a_grant_for_a_grantee_on_another_namespaces_instance_waits_for_its_consent(
    kubectl: Kubectl,
    namespace: str,
    other_tenant: str,
    foreign_instance: str,
    superuser: Any,  # noqa: F811
) -> None:
    """The grant lives in this namespace; its grantee, the database and the instance in the other tenant's. The
    instance's consent (`allowedNamespaces`) wakes the refused grant: no resync, no change to the grant."""
    username, db_name = unique("granted"), unique("granted")
    kubectl("apply", "-n", other_tenant, "-f", "-", input=user("granted", username))
    kubectl("apply", "-n", other_tenant, "-f", "-", input=database("granted", db_name))
    for kind in ("dbu", "db"):
        wait_for(lambda k=kind: phase(kubectl, k, other_tenant, "granted") == "Ready", 60, f"the other tenant's {kind}")
    manifest = f"""apiVersion: dbops.dbprovision.io/v1alpha1
kind: DatabaseGrant
metadata: {{name: reach}}
spec:
  userRef: {{name: granted, namespace: {other_tenant}}}
  deletionProtection: false
  postgres:
    grants: [{{database: {db_name}, privileges: [CONNECT]}}]
"""

    async def granted() -> int:
        return int(
            await superuser.fetchval(
                "SELECT count(*) FROM pg_database d, aclexplode(d.datacl) a JOIN pg_roles r ON r.oid = a.grantee "
                "WHERE d.datname = $1 AND r.rolname = $2 AND a.privilege_type = 'CONNECT'",
                db_name,
                username,
            )
        )

    kubectl("apply", "-n", namespace, "-f", "-", input=manifest)
    ready = refused(kubectl, "databasegrant", namespace, "reach")
    assert ready["message"].startswith(f"namespace {namespace} may not use DatabaseInstance {other_tenant}/pg"), ready
    assert len(events(kubectl, namespace, "reach", "ReconcileFailed")) == 1
    assert await granted() == 0

    patch = json.dumps({"spec": {"allowedNamespaces": [namespace]}})
    kubectl("patch", "dbi", "pg", "-n", other_tenant, "--type=merge", "-p", patch)
    wait_for(lambda: phase(kubectl, "databasegrant", namespace, "reach") == "Ready", 60, "the grant Ready")
    assert await granted() == 1
