"""The service side of work requests: claim one under a lease, renew it, complete or fail it.

A request is handed to exactly one worker at a time: a claim takes the
oldest request that is pending, or whose lease has expired (its worker
died), and gives it a new lease id. Only the holder of the current lease id
may renew, complete or fail it; a worker whose lease was handed on finds
its lease id unknown and drops the work.
"""

import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from submissions import events, services, work_notices
from submissions.exceptions import BadUserInput, InvalidTransition, NotFound
from submissions.models import Record, RecordKind, Status, Submission, WorkRequest, WorkRequestKind, WorkRequestState
from submissions.summary import validation_summary

DEFAULT_LEASE_SECONDS = 60
MAX_LEASE_SECONDS = 3600
MAX_WORKER_NAME_LENGTH = WorkRequest._meta.get_field("worker").max_length
MAX_ACCESSION_LENGTH = Record._meta.get_field("accession").max_length
MAX_CLAIMABLE_LISTED = 100
# A claim that loses a race for its candidate tries the next one; past this
# many losses in a row the caller is told there is nothing (and asks again).
CLAIM_TRIES = 5
WORK_FAILED_REPEATEDLY = (
    "{kind} failed repeatedly ({attempts} attempts) and was stopped. Ask the service's operators to look "
    "into it, or delete this submission and upload its records again."
)


def _check_text(value: str, *, what: str, max_length: int | None = None) -> None:
    if "\x00" in value:
        raise BadUserInput(f"The {what} contains a NUL character (\\u0000); remove it.")
    if max_length is not None and len(value) > max_length:
        raise BadUserInput(f"The {what} is longer than {max_length} characters.")


def _lease_length(lease_seconds: int) -> timedelta:
    if not 1 <= lease_seconds <= MAX_LEASE_SECONDS:
        raise BadUserInput(f"`leaseSeconds` must be between 1 and {MAX_LEASE_SECONDS}.")
    return timedelta(seconds=lease_seconds)


def _claimable(now) -> Q:
    return Q(state=WorkRequestState.PENDING) | Q(state=WorkRequestState.CLAIMED, lease_expires_at__lte=now)


def work_requests_claimable(*, kinds: list[str] | None = None, limit: int = MAX_CLAIMABLE_LISTED) -> list[WorkRequest]:
    """The requests a claim could take now, oldest first."""
    requests = WorkRequest.objects.filter(_claimable(timezone.now()))
    if kinds:
        requests = requests.filter(kind__in=kinds)
    return list(requests[:limit])


def work_request_claim(
    *, worker: str, kinds: list[str] | None = None, lease_seconds: int = DEFAULT_LEASE_SECONDS
) -> WorkRequest | None:
    """Take the oldest claimable request under a new lease for `worker`; None when there is none.

    A request already claimed WORK_MAX_ATTEMPTS times is not handed out again:
    it fails, and its submission goes to ERROR saying so.
    """
    lease = _lease_length(lease_seconds)
    _check_text(worker, what="worker's name", max_length=MAX_WORKER_NAME_LENGTH)
    losses = 0
    while losses < CLAIM_TRIES:
        exhausted = _exhausted(kinds)
        if exhausted is not None:
            _give_up_exhausted(exhausted)
            continue
        with transaction.atomic():
            now = timezone.now()
            candidates = WorkRequest.objects.filter(_claimable(now), attempts__lt=settings.WORK_MAX_ATTEMPTS)
            if kinds:
                candidates = candidates.filter(kind__in=kinds)
            # PostgreSQL: concurrent claims skip each other's locked candidates
            # instead of queueing behind them. SQLite has no row locks (Django
            # ignores select_for_update there); its IMMEDIATE transactions run
            # claims one at a time. Either way the conditional UPDATE below is
            # what guarantees one holder: it changes the row only if it is
            # still claimable, so of two claims racing for it one updates nothing.
            candidate = candidates.select_for_update(skip_locked=True).values_list("pk", flat=True).first()
            if candidate is None:
                return None
            lease_id = secrets.token_urlsafe(24)
            taken = WorkRequest.objects.filter(_claimable(now), pk=candidate).update(
                state=WorkRequestState.CLAIMED,
                lease_id=lease_id,
                lease_expires_at=now + lease,
                worker=worker,
                attempts=F("attempts") + 1,
            )
            if taken:
                return WorkRequest.objects.get(pk=candidate)
        losses += 1
    return None


def _exhausted(kinds: list[str] | None) -> WorkRequest | None:
    """A claimable request that was claimed WORK_MAX_ATTEMPTS times already (its workers died or gave it back)."""
    requests = WorkRequest.objects.filter(_claimable(timezone.now()), attempts__gte=settings.WORK_MAX_ATTEMPTS)
    if kinds:
        requests = requests.filter(kind__in=kinds)
    return requests.first()


def _give_up_exhausted(request: WorkRequest) -> None:
    """Fail `request` and set its submission to ERROR, unless a concurrent claim did so first."""
    with events.in_order(request.submission_id), transaction.atomic():
        try:
            services.submission_lock(request.submission_id)
        except NotFound:  # deleted meanwhile, and its requests with it
            return
        still = (
            WorkRequest.objects.select_for_update(of=("self",))
            .filter(_claimable(timezone.now()), pk=request.pk, attempts__gte=settings.WORK_MAX_ATTEMPTS)
            .first()
        )
        if still is None:
            return
        message = WORK_FAILED_REPEATEDLY.format(kind=still.get_kind_display(), attempts=still.attempts)
        services.set_status(still.submission_id, Status.ERROR, message)
        _end(still, WorkRequestState.FAILED, message)


def _lease_not_found() -> NotFound:
    return NotFound(
        "No work request is held under this lease: it expired and was handed to another worker, or the work ended."
    )


def _held(lease_id: str) -> WorkRequest:
    """The request held under `lease_id`, row locked; NotFound once the lease was handed on or the work ended."""
    request = (
        WorkRequest.objects.select_for_update(of=("self",))
        .filter(lease_id=str(lease_id), state=WorkRequestState.CLAIMED)
        .first()
    )
    if request is None:
        raise _lease_not_found()
    return request


def work_lease_renew(*, lease_id: str, lease_seconds: int = DEFAULT_LEASE_SECONDS) -> WorkRequest:
    """Extend the lease from now; a lease that expired may be renewed while no other worker has claimed it."""
    lease = _lease_length(lease_seconds)
    with transaction.atomic():
        request = _held(lease_id)
        request.lease_expires_at = timezone.now() + lease
        request.save(update_fields=["lease_expires_at"])
    return request


def _submission_held(lease_id: str) -> int:
    """The id of the submission whose request is held under `lease_id` (read before any lock is taken)."""
    submission_id = (
        WorkRequest.objects.filter(lease_id=str(lease_id), state=WorkRequestState.CLAIMED)
        .values_list("submission_id", flat=True)
        .first()
    )
    if submission_id is None:
        raise _lease_not_found()
    return submission_id


def _end(request: WorkRequest, state: str, message: str = "") -> None:
    request.state = state
    request.message = message
    request.lease_id = None
    request.finished_at = timezone.now()
    request.save(update_fields=["state", "message", "lease_id", "finished_at"])


def _validation_outcome(submission_id: int) -> tuple[str, str]:
    summary = validation_summary(submission_id=submission_id)
    issues = sum(summary[kind]["issues"] for kind in ("animals", "samples"))
    unknown = sum(summary[kind]["unknown"] for kind in ("animals", "samples"))
    if unknown:
        return Status.NEED_REVISION, f"Validation left {unknown} records without a result"
    if issues:
        return Status.NEED_REVISION, f"Validation found issues in {issues} records"
    return Status.READY, "Validation passed"


def _submission_outcome(submission_id: int) -> tuple[str, str]:
    records = Record.objects.filter(submission_id=submission_id)
    missing = records.filter(accession="").count()
    if missing:
        raise BadUserInput(f"{missing} records have no accession yet: record them with recordAccessions first.")
    return Status.COMPLETED, f"Submitted to the archive: {records.count()} records accessioned"


def work_request_complete(*, lease_id: str, message: str | None = None) -> WorkRequest:
    """End the work and set the status it leads to, in one transaction.

    Validation: READY when every record has a result and none has issues,
    else NEED_REVISION. Submission: COMPLETED, once every record has its
    accession. `message` replaces the status message said by default.
    """
    _check_text(message or "", what="message")
    submission_id = _submission_held(lease_id)
    with events.in_order(submission_id), transaction.atomic():
        # Locked before the request, in the order deleting a submission takes
        # them (the submission, then its requests), so the two cannot deadlock.
        services.submission_lock(submission_id)
        request = _held(lease_id)
        if request.kind == WorkRequestKind.VALIDATION:
            status, said = _validation_outcome(submission_id)
        else:
            status, said = _submission_outcome(submission_id)
        services.set_status(submission_id, status, message or said, include_validation=True)
        _end(request, WorkRequestState.DONE)
    return request


def work_request_fail(*, lease_id: str, message: str, retry: bool = False) -> WorkRequest:
    """Give the work up: with `retry`, back to pending for another claim; else the submission goes to ERROR."""
    if not message.strip():
        raise BadUserInput("Say why the work failed: the owner reads it as the submission's message.")
    _check_text(message, what="message")
    submission_id = _submission_held(lease_id)
    with events.in_order(submission_id), transaction.atomic():
        # Locked before the request, in the order deleting a submission takes
        # them (the submission, then its requests), so the two cannot deadlock.
        services.submission_lock(submission_id)
        request = _held(lease_id)
        if retry:
            request.state, request.lease_id, request.lease_expires_at = WorkRequestState.PENDING, None, None
            request.message = message
            request.save(update_fields=["state", "lease_id", "lease_expires_at", "message"])
            work_notices.publish_on_commit(request)
        else:
            services.set_status(submission_id, Status.ERROR, message)
            _end(request, WorkRequestState.FAILED, message)
    return request


def accessions_record(*, submission: Submission | int, accessions: list[dict]) -> int:
    """Store the archive's accession ({kind, name, accession}) of records of a Submitted submission.

    All or none; returns how many were stored.
    """
    for item in accessions:
        _check_text(item["accession"], what="accession", max_length=MAX_ACCESSION_LENGTH)
        if not item["accession"].strip():
            raise BadUserInput(f"The accession of {item['name'][:80]!r} is empty.")
    if len({(RecordKind(item["kind"]), item["name"]) for item in accessions}) != len(accessions):
        raise BadUserInput("A record appears twice in this batch.")
    if len(accessions) > services.MAX_RECORDS_PER_BATCH:
        raise BadUserInput(f"At most {services.MAX_RECORDS_PER_BATCH} accessions per call.")
    submission_id = services.submission_pk(submission)
    with transaction.atomic():
        locked = services.submission_lock(submission_id)
        if locked.status != Status.SUBMITTED:
            raise InvalidTransition(
                f"Accessions are recorded while a submission is Submitted; this one is {locked.get_status_display()}."
            )
        records = {
            (record.kind, record.name): record
            for record in Record.objects.filter(submission_id=submission_id, name__in={a["name"] for a in accessions})
        }
        unknown = sorted(a["name"] for a in accessions if (a["kind"], a["name"]) not in records)
        if unknown:
            raise BadUserInput(f"These records do not exist: {', '.join(unknown[:5])}.")
        targets = []
        for item in accessions:
            record = records[(item["kind"], item["name"])]
            record.accession = item["accession"]
            targets.append(record)
        Record.objects.bulk_update(targets, ["accession"])
    return len(targets)
