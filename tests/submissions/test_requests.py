"""Owner requests: each allowed exactly when its action is, stored with its status change, refused changing nothing."""

import pytest

from submissions import services
from submissions.models import Record, RecordKind, Status, Submission, ValidationResult, WorkRequest
from tests.conftest import error_codes

ANIMAL = RecordKind.ANIMAL.value

REQUEST_VALIDATION = """mutation($id: ID!) { requestValidation(submissionId: $id) {
  status statusDisplay message version actions { canValidate canSubmit canEdit } } }"""
REQUEST_SUBMISSION = """mutation($id: ID!) { requestSubmission(submissionId: $id) { status message } }"""
UPDATE_RECORD = """mutation($input: UpdateRecordInput!) { updateRecord(input: $input) {
  kind name attributes validation { outcome } } }"""
RECORDS = """query($id: ID!, $withIssues: Boolean) { submission(id: $id) {
  validationSummary { animals { total unknown issues } }
  records(withIssues: $withIssues) { kind name attributes
    validation { outcome messages { message offendingColumn } } } } }"""


def fresh(submission) -> Submission:
    return Submission.objects.get(pk=submission.pk)


def state(submission) -> tuple:
    """Everything a refused request must leave as it was."""
    stored = fresh(submission)
    return (
        stored.status,
        stored.message,
        stored.version,
        WorkRequest.objects.filter(submission=submission).count(),
        sorted(Record.objects.filter(submission=submission).values_list("name", "attributes")),
        ValidationResult.objects.filter(record__submission=submission).count(),
    )


@pytest.fixture
def loaded(submission):
    services.records_add(
        submission=submission,
        records=[
            {"kind": ANIMAL, "name": "cow-1", "attributes": {"breed": "Angus"}},
            {"kind": ANIMAL, "name": "cow-2", "attributes": {"breed": "Angus"}},
        ],
    )
    services.set_status(submission, Status.LOADED, "Import finished")
    return submission


def _validated(submission, *, clean: bool):
    outcome = "PASS" if clean else "ERROR"
    messages = [] if clean else [{"message": "Missing required attribute", "offending_column": "sex"}]
    services.validation_results_record(
        submission=submission,
        results=[
            {"kind": ANIMAL, "name": "cow-1", "outcome": outcome, "messages": messages},
            {"kind": ANIMAL, "name": "cow-2", "outcome": "PASS"},
        ],
        complete=True,
    )
    return submission


@pytest.fixture
def ready(loaded):
    return _validated(loaded, clean=True)


@pytest.fixture
def need_revision(loaded):
    return _validated(loaded, clean=False)


# requestValidation


@pytest.mark.django_db
def test_an_owner_requests_validation_the_submission_waits_and_a_validation_request_is_stored(owner, loaded):
    result = owner.execute(REQUEST_VALIDATION, {"id": loaded.pk})

    assert result["data"]["requestValidation"] == {
        "status": "WAITING",
        "statusDisplay": "Waiting",
        "message": "Validation requested",
        "version": fresh(loaded).version,
        "actions": {"canValidate": False, "canSubmit": False, "canEdit": False},
    }
    assert list(WorkRequest.objects.values_list("submission_id", "kind", "state")) == [
        (loaded.pk, "VALIDATION", "PENDING")
    ]


@pytest.mark.django_db
def test_validation_may_be_requested_again_after_revision(owner, need_revision):
    assert owner.execute(REQUEST_VALIDATION, {"id": need_revision.pk})["data"]["requestValidation"]["status"] == (
        "WAITING"
    )


@pytest.mark.django_db
@pytest.mark.parametrize("status", [Status.WAITING, Status.READY, Status.SUBMITTED, Status.COMPLETED, Status.ERROR])
def test_validation_requested_while_its_action_is_not_allowed_is_an_invalid_transition_and_changes_nothing(
    owner, loaded, status
):
    services.set_status(loaded, status, "Set by an operator", force=True)
    before = state(loaded)

    result = owner.execute(REQUEST_VALIDATION, {"id": loaded.pk})

    assert error_codes(result) == ["INVALID_TRANSITION"]
    assert "validated" in result["errors"][0]["message"]
    assert state(loaded) == before


@pytest.mark.django_db
def test_another_owners_request_reads_as_not_found_and_changes_nothing(other_owner, loaded):
    before = state(loaded)

    for query in (REQUEST_VALIDATION, REQUEST_SUBMISSION):
        assert error_codes(other_owner.execute(query, {"id": loaded.pk})) == ["NOT_FOUND"]
    assert state(loaded) == before


@pytest.mark.django_db
def test_anonymous_requests_are_unauthenticated(anonymous, loaded):
    before = state(loaded)

    assert error_codes(anonymous.execute(REQUEST_VALIDATION, {"id": loaded.pk})) == ["UNAUTHENTICATED"]
    assert state(loaded) == before


@pytest.mark.django_db
def test_a_service_may_request_validation_of_any_submission(service, loaded):
    assert service.execute(REQUEST_VALIDATION, {"id": loaded.pk})["data"]["requestValidation"]["status"] == "WAITING"


@pytest.mark.django_db
def test_a_request_for_a_missing_submission_is_not_found(owner):
    assert error_codes(owner.execute(REQUEST_VALIDATION, {"id": "999999"})) == ["NOT_FOUND"]


@pytest.mark.django_db
def test_the_status_change_and_the_stored_request_are_published_after_commit(
    owner, loaded, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        owner.execute(REQUEST_VALIDATION, {"id": loaded.pk})

    # One submission event (the status), one notice to the workers.
    assert len(callbacks) == 2


# requestSubmission


@pytest.mark.django_db
def test_an_owner_requests_submission_of_a_ready_submission(owner, ready):
    result = owner.execute(REQUEST_SUBMISSION, {"id": ready.pk})

    assert result["data"]["requestSubmission"] == {"status": "SUBMITTED", "message": "Submission requested"}
    assert list(WorkRequest.objects.values_list("kind", "state")) == [("SUBMISSION", "PENDING")]


@pytest.mark.django_db
def test_submission_requested_before_the_submission_is_ready_is_an_invalid_transition_and_changes_nothing(
    owner, need_revision
):
    before = state(need_revision)

    result = owner.execute(REQUEST_SUBMISSION, {"id": need_revision.pk})

    assert error_codes(result) == ["INVALID_TRANSITION"]
    assert "Ready" in result["errors"][0]["message"]
    assert state(need_revision) == before


# updateRecord and the records a page reads


def _update(caller, submission, name="cow-1", attributes=None):
    variables = {
        "input": {
            "submissionId": submission.pk,
            "kind": "ANIMAL",
            "name": name,
            "attributes": attributes if attributes is not None else {"breed": "Angus", "sex": "female"},
        }
    }
    return caller.execute(UPDATE_RECORD, variables)


@pytest.mark.django_db
def test_the_records_with_issues_are_read_with_their_messages_and_offending_columns(owner, need_revision):
    result = owner.execute(RECORDS, {"id": need_revision.pk, "withIssues": True})

    assert result["data"]["submission"]["records"] == [
        {
            "kind": "ANIMAL",
            "name": "cow-1",
            "attributes": {"breed": "Angus"},
            "validation": {
                "outcome": "ERROR",
                "messages": [{"message": "Missing required attribute", "offendingColumn": "sex"}],
            },
        }
    ]
    assert len(owner.execute(RECORDS, {"id": need_revision.pk})["data"]["submission"]["records"]) == 2


@pytest.mark.django_db
def test_an_owner_fixes_a_record_its_result_is_cleared_and_the_summary_shows_it_unknown(owner, need_revision):
    version = fresh(need_revision).version

    result = _update(owner, need_revision)

    assert result["data"]["updateRecord"] == {
        "kind": "ANIMAL",
        "name": "cow-1",
        "attributes": {"breed": "Angus", "sex": "female"},
        "validation": None,
    }
    summary = owner.execute(RECORDS, {"id": need_revision.pk})["data"]["submission"]["validationSummary"]
    assert summary["animals"] == {"total": 2, "unknown": 1, "issues": 0}
    stored = fresh(need_revision)
    assert (stored.status, stored.version) == (Status.NEED_REVISION, version + 1)


@pytest.mark.django_db
def test_editing_a_ready_submission_sends_it_back_to_loaded_to_be_validated_again(owner, ready):
    _update(owner, ready)

    stored = fresh(ready)
    assert (stored.status, stored.message) == (Status.LOADED, "Records changed: validate again")


@pytest.mark.django_db
def test_a_record_cannot_be_edited_while_waiting_and_nothing_changes(owner, loaded):
    services.set_status(loaded, Status.WAITING, "Validation requested")
    before = state(loaded)

    result = _update(owner, loaded)

    assert error_codes(result) == ["INVALID_TRANSITION"]
    assert state(loaded) == before


@pytest.mark.django_db
def test_editing_an_unknown_record_is_not_found_and_changes_nothing(owner, need_revision):
    before = state(need_revision)

    assert error_codes(_update(owner, need_revision, name="cow-9")) == ["NOT_FOUND"]
    assert state(need_revision) == before


@pytest.mark.django_db
@pytest.mark.parametrize("attributes", [[1, 2], {"breed": "A\u0000"}, "text"])
def test_attributes_that_are_not_a_storable_object_are_bad_user_input_and_change_nothing(
    owner, need_revision, attributes
):
    before = state(need_revision)

    assert error_codes(_update(owner, need_revision, attributes=attributes)) == ["BAD_USER_INPUT"]
    assert state(need_revision) == before


@pytest.mark.django_db
def test_another_owner_cannot_edit_a_record(other_owner, need_revision):
    before = state(need_revision)

    assert error_codes(_update(other_owner, need_revision)) == ["NOT_FOUND"]
    assert state(need_revision) == before
