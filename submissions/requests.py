"""What an owner may ask of a submission: validation, submission to the archive, a record's fix.

Each is allowed exactly when the submission's actions (rules.actions_for)
offer it, checked under the submission's row lock. A request for work
changes the status and stores a WorkRequest in one transaction, so the
work is never lost: a worker that is down when the owner asks finds it
when it starts. Events go out through the services, after commit.
"""

from django.db import transaction

from submissions import events, rules, services, work_notices
from submissions.exceptions import InvalidTransition, NotFound
from submissions.models import Record, RecordKind, Status, Submission, ValidationResult, WorkRequest, WorkRequestKind

VALIDATION_REQUESTED = "Validation requested"
SUBMISSION_REQUESTED = "Submission requested"
RECORDS_CHANGED = "Records changed: validate again"

# Why each action may be refused, in the words the owner reads.
_REFUSALS = {
    "can_validate": "A submission cannot be validated while it is {status}.",
    "can_submit": "Only a Ready submission can be submitted; this one is {status}.",
    "can_edit": "Records cannot be edited while the submission is {status}.",
}


def _locked_allowing(submission_id: int, action: str) -> Submission:
    """The submission, its row locked, if its status allows `action` now; else InvalidTransition."""
    submission = services.submission_lock(submission_id)
    actions = rules.actions_for(status=submission.status, has_records=submission.has_records)
    if not actions[action]:
        raise InvalidTransition(_REFUSALS[action].format(status=submission.get_status_display()))
    return submission


def _request_work(*, submission: Submission | int, action: str, status: str, message: str, kind: str) -> Submission:
    pk = services.submission_pk(submission)
    with events.in_order(pk), transaction.atomic():
        _locked_allowing(pk, action)
        services.set_status(pk, status, message)
        request = WorkRequest.objects.create(submission_id=pk, kind=kind)
        work_notices.publish_on_commit(request)
    return Submission.objects.select_related("owner").get(pk=pk)


def validation_request(*, submission: Submission | int) -> Submission:
    """Ask for the submission's records to be validated (WAITING "Validation requested"); returns it as it is now."""
    return _request_work(
        submission=submission,
        action="can_validate",
        status=Status.WAITING,
        message=VALIDATION_REQUESTED,
        kind=WorkRequestKind.VALIDATION,
    )


def submission_request(*, submission: Submission | int) -> Submission:
    """Ask for a Ready submission to be submitted to the archive (SUBMITTED "Submission requested")."""
    return _request_work(
        submission=submission,
        action="can_submit",
        status=Status.SUBMITTED,
        message=SUBMISSION_REQUESTED,
        kind=WorkRequestKind.SUBMISSION,
    )


def record_update(*, submission: Submission | int, kind: str, name: str, attributes: dict) -> Record:
    """Replace a record's attributes and clear its validation result; publishes the new summary.

    A Ready submission goes back to Loaded: what was validated has changed,
    so it must be validated again before it can be submitted.
    """
    kind = RecordKind(kind)
    services.check_attributes(attributes, name=name)
    pk = services.submission_pk(submission)
    with events.in_order(pk), transaction.atomic():
        locked = _locked_allowing(pk, "can_edit")
        record = Record.objects.filter(submission_id=pk, kind=kind, name=name).first()
        if record is None:
            raise NotFound(f"{kind.label} {name[:80]!r} not found in this submission.")
        record.attributes = attributes
        record.save(update_fields=["attributes"])
        ValidationResult.objects.filter(record=record).delete()
        if locked.status == Status.READY:
            services.set_status(pk, Status.LOADED, RECORDS_CHANGED, include_validation=True)
        else:
            services.submission_republish(submission=pk, include_validation=True)
    return Record.objects.select_related("validation_result").get(pk=record.pk)  # as the page reads it: no result
