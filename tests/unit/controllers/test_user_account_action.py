"""The DatabaseUser account step's decision (behaviour.md 8.2, 8.1 step 4): what happens to the account on the server
and which event the credentials Secret's write announces."""

from __future__ import annotations

import pytest

from dbops.controllers.user import AccountAction, account_action

SOURCES = ("existing-secret", "source", "credentials", "generated")


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("recorded", [False, True])
@pytest.mark.parametrize("changed", [False, True])
def test_a_missing_account_is_created(source: str, recorded: bool, changed: bool) -> None:
    assert account_action(False, recorded, source, changed) is AccountAction.CREATE


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("changed", [False, True])
def test_an_existing_account_not_recorded_is_taken_over(source: str, changed: bool) -> None:
    assert account_action(True, False, source, changed) is AccountAction.TAKE_OVER


@pytest.mark.parametrize("changed", [False, True])
def test_a_generated_password_is_set_on_a_recorded_account(changed: bool) -> None:
    assert account_action(True, True, "generated", changed) is AccountAction.REGENERATE


def test_a_changed_existing_secret_is_set_once() -> None:
    assert account_action(True, True, "existing-secret", True) is AccountAction.RESET
    assert account_action(True, True, "existing-secret", False) is AccountAction.KEEP


@pytest.mark.parametrize("source", ["source", "credentials"])
@pytest.mark.parametrize("changed", [False, True])
def test_a_stored_password_keeps_the_account(source: str, changed: bool) -> None:
    assert account_action(True, True, source, changed) is AccountAction.KEEP


@pytest.mark.parametrize(
    ("action", "event", "fresh"),
    [
        (AccountAction.CREATE, "SecretCreated", True),
        (AccountAction.TAKE_OVER, "SecretCreated", True),
        (AccountAction.REGENERATE, "SecretRegenerated", False),
        (AccountAction.RESET, None, False),
        (AccountAction.KEEP, None, False),
    ],
)
def test_each_action_has_its_secret_event(action: AccountAction, event: str | None, fresh: bool) -> None:
    assert action.secret_event == event
    assert action.fresh is fresh
