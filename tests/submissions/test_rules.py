"""The status rules (submissions.rules: transitions and actions), checked over the whole status table."""

import pytest

from submissions.models import Status
from submissions.rules import actions_for, transition_allowed

WAITING, LOADED, SUBMITTED, ERROR, NEED_REVISION, READY, COMPLETED = (
    Status.WAITING.value,
    Status.LOADED.value,
    Status.SUBMITTED.value,
    Status.ERROR.value,
    Status.NEED_REVISION.value,
    Status.READY.value,
    Status.COMPLETED.value,
)
ALL_STATUSES = [status.value for status in Status]
# The targets the spec restricts; every other target is "every other change".
RESTRICTED_TARGETS = {COMPLETED, SUBMITTED, READY, NEED_REVISION}
UNRESTRICTED_TARGETS = [status for status in ALL_STATUSES if status not in RESTRICTED_TARGETS]


def test_the_status_table_holds_the_seven_statuses_of_the_spec():
    assert {status.value: status.label for status in Status} == {
        "WAITING": "Waiting",
        "LOADED": "Loaded",
        "SUBMITTED": "Submitted",
        "ERROR": "Error",
        "NEED_REVISION": "Need Revision",
        "READY": "Ready",
        "COMPLETED": "Completed",
    }


# Transitions


@pytest.mark.parametrize("status", ALL_STATUSES)
def test_a_change_to_the_same_status_is_always_allowed(status):
    assert transition_allowed(current=status, target=status) is True


@pytest.mark.parametrize("current", ALL_STATUSES)
def test_completed_is_reached_only_from_submitted(current):
    expected = current in {SUBMITTED, COMPLETED}
    assert transition_allowed(current=current, target=COMPLETED) is expected


@pytest.mark.parametrize("current", ALL_STATUSES)
def test_submitted_is_reached_only_from_ready_or_waiting(current):
    expected = current in {READY, WAITING, SUBMITTED}
    assert transition_allowed(current=current, target=SUBMITTED) is expected


@pytest.mark.parametrize("current", ALL_STATUSES)
def test_ready_is_reached_only_from_waiting_or_loaded(current):
    expected = current in {WAITING, LOADED, READY}
    assert transition_allowed(current=current, target=READY) is expected


@pytest.mark.parametrize("current", ALL_STATUSES)
def test_need_revision_is_reached_only_from_waiting_or_loaded(current):
    expected = current in {WAITING, LOADED, NEED_REVISION}
    assert transition_allowed(current=current, target=NEED_REVISION) is expected


@pytest.mark.parametrize("target", UNRESTRICTED_TARGETS)
@pytest.mark.parametrize("current", ALL_STATUSES)
def test_every_other_change_is_allowed(current, target):
    assert transition_allowed(current=current, target=target) is True


# The same rules, written out as the table a reader checks against the spec:
# row = from, column = to, 1 = allowed.
TRANSITION_TABLE = """
                WAITING LOADED SUBMITTED ERROR NEED_REVISION READY COMPLETED
WAITING         1       1      1         1     1             1     0
LOADED          1       1      0         1     1             1     0
SUBMITTED       1       1      1         1     0             0     1
ERROR           1       1      0         1     0             0     0
NEED_REVISION   1       1      0         1     1             0     0
READY           1       1      1         1     0             1     0
COMPLETED       1       1      0         1     0             0     1
"""


def _transition_cases():
    header, *rows = TRANSITION_TABLE.strip().splitlines()
    targets = header.split()
    for row in rows:
        current, *cells = row.split()
        for target, cell in zip(targets, cells, strict=True):
            yield pytest.param(current, target, cell == "1", id=f"{current}->{target}")


def test_the_transition_table_covers_every_pair_of_statuses():
    pairs = {(case.values[0], case.values[1]) for case in _transition_cases()}
    assert pairs == {(current, target) for current in ALL_STATUSES for target in ALL_STATUSES}


@pytest.mark.parametrize("current, target, allowed", list(_transition_cases()))
def test_a_transition_is_allowed_exactly_as_the_table_says(current, target, allowed):
    assert transition_allowed(current=current, target=target) is allowed


def test_transition_rules_accept_status_members_as_well_as_their_values():
    assert transition_allowed(current=Status.SUBMITTED, target=Status.COMPLETED) is True
    assert transition_allowed(current=Status.WAITING, target=Status.COMPLETED) is False


# Actions

# status: (canEdit when it has records, canDelete, canValidate, canSubmit)
ACTION_TABLE = {
    WAITING: (False, False, False, False),
    LOADED: (True, True, True, False),
    SUBMITTED: (False, False, False, False),
    ERROR: (True, True, False, False),
    NEED_REVISION: (True, True, True, False),
    READY: (True, True, False, True),
    COMPLETED: (True, True, False, False),
}


def test_the_action_table_covers_every_status():
    assert set(ACTION_TABLE) == set(ALL_STATUSES)


@pytest.mark.parametrize("status", ALL_STATUSES)
def test_actions_name_the_four_buttons_of_the_front_end(status):
    assert set(actions_for(status=status, has_records=True)) == {"can_edit", "can_delete", "can_validate", "can_submit"}


@pytest.mark.parametrize("status", ALL_STATUSES)
def test_actions_of_a_submission_with_records_follow_the_table(status):
    can_edit, can_delete, can_validate, can_submit = ACTION_TABLE[status]
    assert actions_for(status=status, has_records=True) == {
        "can_edit": can_edit,
        "can_delete": can_delete,
        "can_validate": can_validate,
        "can_submit": can_submit,
    }


@pytest.mark.parametrize("status", ALL_STATUSES)
def test_can_edit_needs_records_and_a_status_other_than_waiting_or_submitted(status):
    assert actions_for(status=status, has_records=False)["can_edit"] is False
    assert actions_for(status=status, has_records=True)["can_edit"] is (status not in {WAITING, SUBMITTED})


@pytest.mark.parametrize("has_records", [False, True])
@pytest.mark.parametrize("status", ALL_STATUSES)
def test_can_delete_is_any_status_but_waiting_or_submitted(status, has_records):
    assert actions_for(status=status, has_records=has_records)["can_delete"] is (status not in {WAITING, SUBMITTED})


@pytest.mark.parametrize("has_records", [False, True])
@pytest.mark.parametrize("status", ALL_STATUSES)
def test_can_validate_is_any_status_but_error_waiting_submitted_completed_or_ready(status, has_records):
    expected = status not in {ERROR, WAITING, SUBMITTED, COMPLETED, READY}
    assert actions_for(status=status, has_records=has_records)["can_validate"] is expected


@pytest.mark.parametrize("has_records", [False, True])
@pytest.mark.parametrize("status", ALL_STATUSES)
def test_can_submit_only_when_ready(status, has_records):
    assert actions_for(status=status, has_records=has_records)["can_submit"] is (status == READY)


@pytest.mark.parametrize("has_records", [False, True])
@pytest.mark.parametrize("status", ALL_STATUSES)
def test_actions_are_plain_booleans(status, has_records):
    assert all(type(value) is bool for value in actions_for(status=status, has_records=has_records).values())
