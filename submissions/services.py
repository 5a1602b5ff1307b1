"""The only code that changes submissions, and so the only code that publishes events.

Every change locks the submission's row, bumps its version and saves in one
transaction, then publishes after commit (events.publish_on_commit). These
are plain sync functions, safe to call from several threads at once: call
them from async code through sync_to_async (thread_sensitive=False is fine).
"""

import math
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext

from django.db import connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from submissions import events, rules, selectors
from submissions.exceptions import BadUserInput, Forbidden, InvalidTransition, NotFound
from submissions.models import (
    Record,
    RecordKind,
    Status,
    Submission,
    ValidationMessage,
    ValidationOutcome,
    ValidationResult,
    WorkRequest,
    WorkRequestState,
)
from submissions.summary import validation_summary

MAX_RECORDS_PER_BATCH = 10_000
MAX_TITLE_LENGTH = Submission._meta.get_field("title").max_length
MAX_NAME_LENGTH = Record._meta.get_field("name").max_length
# Nesting of a record's attributes, counting the top-level object as 1: deep
# enough for any real sample sheet, and far from the recursion limits of the
# JSON encoders that store it.
MAX_ATTRIBUTES_DEPTH = 32


def submission_pk(submission: Submission | int) -> int:
    """The id of `submission`, given as a model or as its id."""
    return submission.pk if isinstance(submission, Submission) else submission


def submission_lock(submission: Submission | int) -> Submission:
    """The submission with its row locked until the transaction ends; NotFound once it is deleted."""
    # The row lock serialises concurrent changes to one submission, so each
    # gets its own version and the event order matches the commit order of
    # the versions (SQLite gets the same from its IMMEDIATE transactions).
    # Whether it has records (for its actions) comes in the same query.
    pk = submission_pk(submission)
    try:
        return (
            Submission.objects.select_for_update(of=("self",))
            .annotate(has_records=Exists(Record.objects.filter(submission=OuterRef("pk"))))
            .get(pk=pk)
        )
    except Submission.DoesNotExist:
        # Deleted since the caller looked it up (a delete racing this change):
        # once locked, it stays until this transaction ends.
        raise selectors.not_found(pk) from None


# SQLite has one writer at a time. Its threads wait for the write lock in
# SQLite's busy handler, which sleeps (1, 2, 5 ... 100 ms) between tries;
# a writer queued here instead starts the moment the last one commits.
_sqlite_writer = threading.Lock()


def _one_writer():
    """Around a write outside any transaction: on SQLite, this process's writers take turns here."""
    if connection.vendor != "sqlite" or connection.in_atomic_block:
        # Inside a transaction this thread may hold SQLite's lock already:
        # waiting here for a thread that waits for it would deadlock.
        return nullcontext()
    return _sqlite_writer


def _check_lease(pk: int, lease_id: str | None) -> None:
    """NotFound unless `lease_id` (when given) holds the submission's work now.

    A worker away longer than its lease finds it handed on; it must not then
    write next to the new holder.
    """
    if lease_id is None:
        return
    held = WorkRequest.objects.filter(submission_id=pk, lease_id=str(lease_id), state=WorkRequestState.CLAIMED)
    if not held.exists():
        raise NotFound(
            "No work on this submission is held under this lease: it was handed to another worker, or the work ended."
        )


@contextmanager
def _change(submission: Submission | int) -> Iterator[Submission]:
    """A transaction holding the submission's row lock; its events are published, in order, on commit."""
    with events.in_order(submission_pk(submission)), _one_writer(), transaction.atomic():
        yield submission_lock(submission)


def _bump(
    pk: int, *, status: str | None = None, message: str | None = None, sources=None, progress: dict | None = None
) -> dict | None:
    """Set the status and message (when given) and the next version, in one statement; publish after commit.

    The hot path of status and progress reports: one UPDATE takes the row
    lock, checks the transition (the status must be in `sources`, or be the
    target), bumps the version and returns what the event needs, where the
    ORM would take a locking read, a save and a transaction around them.
    Returns the event, or None when no row matched (gone, or the transition is refused).
    """
    table = connection.ops.quote_name(Submission._meta.db_table)
    records = connection.ops.quote_name(Record._meta.db_table)
    assignments, parameters = ["version = version + 1", "updated_at = %s"], [timezone.now()]
    if status is not None:
        assignments += ["status = %s", "message = %s"]
        parameters += [status, message]
    condition, condition_parameters = "id = %s", [pk]
    if sources is not None:
        condition += f" AND status IN ({', '.join(['%s'] * (len(sources) + 1))})"
        condition_parameters += [status, *(source.value for source in sources)]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {', '.join(assignments)} WHERE {condition} RETURNING version, status, message, "
            f"EXISTS (SELECT 1 FROM {records} WHERE submission_id = {table}.id)",
            parameters + condition_parameters,
        )
        row = cursor.fetchone()
    if row is None:
        return None
    version, status, message, has_records = row
    submission = Submission(pk=pk, version=version, status=status, message=message)
    event = events.status_event(submission, has_records=bool(has_records), progress=progress)
    events.publish_on_commit(event)
    return event


def _refused(pk: int, *, target: str):
    """Why `_bump` changed nothing: the submission is gone, or it may not go to `target`."""
    current = Submission.objects.filter(pk=pk).values_list("status", flat=True).first()
    if current is None:
        raise selectors.not_found(pk)
    raise InvalidTransition(f"A submission cannot go from {Status(current).label} to {Status(target).label}.")


def _text(value: str, *, what: str) -> str:
    # PostgreSQL cannot store NUL in text or JSON, SQLite can: refuse it before
    # any query, so that both databases answer alike.
    if "\x00" in value:
        raise BadUserInput(f"The {what} contains a NUL character (\\u0000); remove it.")
    return value


def check_attributes(attributes, *, name: str) -> None:
    """Attributes are a JSON object that every database stores: no NUL, no NaN, bounded nesting."""
    if not isinstance(attributes, dict):
        raise BadUserInput(f"The attributes of {name!r} must be a JSON object.")
    what = f"attributes of {name!r}"
    pending = [(attributes, 1)]  # iterative: the nesting is the caller's choice
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict | list):
            if depth > MAX_ATTRIBUTES_DEPTH:
                raise BadUserInput(f"The {what} are nested deeper than {MAX_ATTRIBUTES_DEPTH} levels.")
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(value, dict):
                    if not isinstance(key, str):
                        raise BadUserInput(f"The {what} must have text keys.")
                    _text(key, what=what)
                pending.append((item, depth + 1))
        elif isinstance(value, str):
            _text(value, what=what)
        elif isinstance(value, float) and not math.isfinite(value):
            raise BadUserInput(f"The {what} hold {value}, which is not a JSON number.")
        elif value is not None and not isinstance(value, bool | int | float):
            raise BadUserInput(f"The {what} hold a {type(value).__name__}, which is not a JSON value.")


def _publish_change(
    submission: Submission,
    *,
    include_validation: bool = False,
    summary: dict | None = None,
    progress: dict | None = None,
    fields: Iterable[str] = (),
) -> dict:
    """Bump the version, save, and publish the resulting event after commit.

    With `include_validation`, the event carries the summary (`summary`, if
    the caller has just computed it).
    """
    submission.version += 1
    submission.save(update_fields=["version", "updated_at", *fields])
    if include_validation and summary is None:
        summary = validation_summary(submission_id=submission.pk)
    if summary:
        has_records = summary["animals"]["total"] + summary["samples"]["total"] > 0
    else:
        has_records = getattr(submission, "has_records", None)  # submission_lock's annotation
    event = events.status_event(
        submission,
        has_records=selectors.has_records(submission) if has_records is None else has_records,
        validation_summary=summary if include_validation else None,
        progress=progress,
    )
    events.publish_on_commit(event)
    return event


def _choice(choices, value, *, what: str):
    try:
        return choices(value)
    except ValueError:
        raise BadUserInput(f"Unknown {what} {value!r}; expected one of {', '.join(choices.values)}.") from None


def submission_create(*, owner, title: str, description: str = "") -> Submission:
    title = _text(title, what="title").strip()
    _text(description, what="description")
    if not title:
        raise BadUserInput("A submission needs a title.")
    if len(title) > MAX_TITLE_LENGTH:
        raise BadUserInput(f"The title is longer than {MAX_TITLE_LENGTH} characters.")
    return Submission.objects.create(owner=owner, title=title, description=description)


def submission_delete(*, submission: Submission) -> None:
    """Delete a submission whose status allows it; its subscriptions complete."""
    with _change(submission) as submission:
        if not rules.can_delete(submission.status):
            raise Forbidden(f"A submission cannot be deleted while it is {submission.get_status_display()}.")
        submission_id, version = submission.pk, submission.version
        submission.delete()
        events.publish_on_commit(events.deleted_event(submission_id=submission_id, version=version + 1))


def set_status(
    submission: Submission | int,
    status: str,
    message: str | None = None,
    *,
    include_validation: bool = False,
    force: bool = False,
) -> dict:
    """Set the status and message (None clears it), publish after commit, and return the event.

    A change the status rules do not allow raises InvalidTransition, unless
    `force` (an operator's reset).
    """
    status = _choice(Status, status, what="status")
    if message:
        _text(message, what="message")
    if not include_validation:
        pk = submission_pk(submission)
        sources = None if force else rules.allowed_sources(status)
        with events.in_order(pk), _one_writer():
            event = _bump(pk, status=status.value, message=message or "", sources=sources)
        if event is None:
            _refused(pk, target=status)
        return event
    with _change(submission) as submission:
        if not force and not rules.transition_allowed(current=submission.status, target=status):
            raise InvalidTransition(f"A submission cannot go from {submission.get_status_display()} to {status.label}.")
        submission.status = status
        submission.message = message or ""
        return _publish_change(submission, include_validation=include_validation, fields=["status", "message"])


def _check_names(items: list[dict], *, what: str) -> None:
    if len(items) > MAX_RECORDS_PER_BATCH:
        raise BadUserInput(f"At most {MAX_RECORDS_PER_BATCH} {what} per call.")
    seen = set()
    for item in items:
        _choice(RecordKind, item["kind"], what="record kind")
        name = _text(item["name"], what="record name")
        if not name or not name.strip():
            raise BadUserInput("Every record needs a name.")
        if len(name) > MAX_NAME_LENGTH:
            raise BadUserInput(f"Record name {name[:40]!r}... is longer than {MAX_NAME_LENGTH} characters.")
        key = (RecordKind(item["kind"]), name)
        if key in seen:
            raise BadUserInput(f"{key[0].label} {name!r} appears twice in this batch.")
        seen.add(key)


def records_add(*, submission: Submission | int, records: list[dict]) -> int:
    """Add records ({kind, name, attributes}); all or none. Returns how many were added."""
    _check_names(records, what="records")
    if not records:
        return 0
    for record in records:
        check_attributes(record.get("attributes", {}), name=record["name"])
    with _change(submission) as submission:
        wanted = {(r["kind"], r["name"]) for r in records}
        existing = Record.objects.filter(submission=submission, name__in={name for _, name in wanted})
        clashes = sorted(name for kind, name in existing.values_list("kind", "name") if (kind, name) in wanted)
        if clashes:
            raise BadUserInput(f"These records already exist: {', '.join(clashes[:5])}.")
        Record.objects.bulk_create(
            Record(submission=submission, kind=r["kind"], name=r["name"], attributes=r.get("attributes") or {})
            for r in records
        )
        _publish_change(submission, include_validation=True)
    return len(records)


def validation_results_record(
    *, submission: Submission | int, results: list[dict], complete: bool = False, lease_id: str | None = None
) -> dict:
    """Store validation results ({kind, name, outcome, messages}) and return the new summary.

    A record's new result replaces its old one. With `complete`, the status
    becomes READY when no record has issues or is unvalidated, else NEED_REVISION.
    With `lease_id`, only while that lease holds the submission's work (else NotFound).
    """
    _check_names(results, what="results")
    for result in results:
        _choice(ValidationOutcome, result["outcome"], what="validation outcome")
        for message in result.get("messages", ()):
            _text(message["message"], what="validation message")
            _text(message.get("offending_column") or "", what="offending column")
    with _change(submission) as submission:
        _check_lease(submission.pk, lease_id)
        records = {
            (record.kind, record.name): record
            for record in Record.objects.filter(submission=submission, name__in={r["name"] for r in results})
        }
        unknown = [r["name"] for r in results if (r["kind"], r["name"]) not in records]
        if unknown:
            raise BadUserInput(f"These records do not exist: {', '.join(sorted(unknown)[:5])}.")
        targets = [records[(r["kind"], r["name"])] for r in results]
        ValidationResult.objects.filter(record__in=targets).delete()
        created = ValidationResult.objects.bulk_create(
            ValidationResult(record=record, outcome=ValidationOutcome(r["outcome"]))
            for record, r in zip(targets, results, strict=True)
        )
        ValidationMessage.objects.bulk_create(
            ValidationMessage(result=result, message=m["message"], offending_column=m.get("offending_column") or "")
            for result, r in zip(created, results, strict=True)
            for m in r.get("messages", ())
        )
        fields, summary = [], None
        if complete:
            summary = validation_summary(submission_id=submission.pk)
            clean = all(summary[k]["issues"] == 0 and summary[k]["unknown"] == 0 for k in ("animals", "samples"))
            status = Status.READY if clean else Status.NEED_REVISION
            if not rules.transition_allowed(current=submission.status, target=status):
                raise InvalidTransition(
                    f"Validation cannot complete while the submission is {submission.get_status_display()}."
                )
            submission.status = status
            fields = ["status"]
        event = _publish_change(submission, include_validation=True, summary=summary, fields=fields)
    return event["validation_summary"]


def submission_republish(*, submission: Submission | int, include_validation: bool = False) -> dict:
    """Publish the submission's stored status and message again, as a new version."""
    with _change(submission) as submission:
        return _publish_change(submission, include_validation=include_validation)


def progress_report(
    *, submission: Submission | int, phase: str, done: int, total: int, lease_id: str | None = None
) -> dict:
    """Publish how far a phase has got; the status is unchanged. Returns the event.

    With `lease_id`, only while that lease holds the submission's work (else NotFound).
    """
    if not _text(phase, what="phase").strip():
        raise BadUserInput("A progress report needs a phase.")
    if not 0 <= done <= total:
        raise BadUserInput("Progress needs 0 <= done <= total.")
    pk = submission_pk(submission)
    # The lease is checked and the report made in one transaction; without one, one UPDATE is the transaction.
    with events.in_order(pk), _one_writer(), transaction.atomic() if lease_id is not None else nullcontext():
        _check_lease(pk, lease_id)
        event = _bump(pk, progress={"phase": phase, "done": done, "total": total})
    if event is None:
        raise selectors.not_found(pk)
    return event
