"""Reads that respect who is asking: another owner's submission reads as not found."""

from django.db import close_old_connections
from django.db.models import QuerySet

from submissions import events
from submissions.exceptions import BadUserInput, NotFound
from submissions.models import Record, Submission, ValidationOutcome
from submissions.summary import validation_summary

MAX_PAGE_SIZE = 200
# Ids are positive 64-bit integers (BigAutoField; PostgreSQL's bigint). Anything
# else cannot exist, and must not reach the database (an out-of-range integer
# fails there) or a channel-layer group name (at most 99 ASCII characters).
MAX_SUBMISSION_ID = 2**63 - 1
MAX_SHOWN_ID_LENGTH = 40


def visible_submissions(*, viewer) -> QuerySet[Submission]:
    submissions = Submission.objects.select_related("owner")
    return submissions if viewer.is_service else submissions.filter(owner=viewer.user)


def not_found(submission_id) -> NotFound:
    shown = str(submission_id)
    if len(shown) > MAX_SHOWN_ID_LENGTH:  # an attacker's megabyte id is not echoed back
        shown = f"{shown[:MAX_SHOWN_ID_LENGTH]}..."
    return NotFound(f"Submission {shown} not found.")


def parse_submission_id(submission_id) -> int:
    """The id as an integer that may name a submission; NotFound for anything that cannot."""
    text = str(submission_id)
    # ASCII digits only: int() would also take "+1", " 1", "1_0" and other scripts' digits.
    if text.isascii() and text.isdigit() and len(text) <= len(str(MAX_SUBMISSION_ID)):
        number = int(text)
        if 0 < number <= MAX_SUBMISSION_ID:
            return number
    raise not_found(submission_id)


def submission_get(*, viewer, submission_id) -> Submission:
    """The submission `viewer` may see, or NotFound (also for others' submissions)."""
    try:
        return visible_submissions(viewer=viewer).get(pk=parse_submission_id(submission_id))
    except Submission.DoesNotExist:
        raise not_found(submission_id) from None


def submission_list(*, viewer, status: str | None = None, first: int = 50, offset: int = 0) -> list[Submission]:
    if not 0 <= first <= MAX_PAGE_SIZE:
        raise BadUserInput(f"`first` must be between 0 and {MAX_PAGE_SIZE}.")
    if offset < 0:
        raise BadUserInput("`offset` must not be negative.")
    submissions = visible_submissions(viewer=viewer)
    if status is not None:
        submissions = submissions.filter(status=status)
    return list(submissions[offset : offset + first])


def has_records(submission: Submission) -> bool:
    return submission.records.exists()


def may_see(viewer, *, owner_id: int) -> bool:
    return viewer.is_service or viewer.user.pk == owner_id


def submission_state(*, submission_id) -> tuple[int, dict]:
    """The owner's id and the event describing the submission now, with its summary.

    For anyone: check `may_see` before showing it.
    """
    # Snapshots are read on a long-lived thread, outside any request cycle:
    # drop a connection the database has closed (a restart) before using it.
    close_old_connections()
    try:
        submission = Submission.objects.get(pk=parse_submission_id(submission_id))
    except Submission.DoesNotExist:
        raise not_found(submission_id) from None
    event = events.status_event(
        submission,
        has_records=has_records(submission),
        validation_summary=validation_summary(submission_id=submission.pk),
    )
    return submission.owner_id, event


def submission_snapshot(*, viewer, submission_id) -> dict:
    """The event a new subscriber starts from: the submission now, with its summary."""
    owner_id, event = submission_state(submission_id=submission_id)
    if not may_see(viewer, owner_id=owner_id):
        raise not_found(submission_id)
    return event


MAX_RECORDS_PAGE_SIZE = 1000


def record_list(
    *, submission: Submission, kind: str | None = None, with_issues: bool = False, first: int = 100, offset: int = 0
) -> list[Record]:
    """A page of the submission's records, by kind and name, with their validation results and messages.

    With `with_issues`, only the records whose outcome is ERROR.
    """
    if not 0 <= first <= MAX_RECORDS_PAGE_SIZE:
        raise BadUserInput(f"`first` must be between 0 and {MAX_RECORDS_PAGE_SIZE}.")
    if offset < 0:
        raise BadUserInput("`offset` must not be negative.")
    records = Record.objects.filter(submission=submission).select_related("validation_result")
    if kind is not None:
        records = records.filter(kind=kind)
    if with_issues:
        records = records.filter(validation_result__outcome=ValidationOutcome.ERROR)
    records = records.order_by("kind", "name").prefetch_related("validation_result__messages")
    return list(records[offset : offset + first])
