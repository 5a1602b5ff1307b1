"""GraphQL types, built from models and from events (plain JSON values)."""

from datetime import datetime
from itertools import islice

import strawberry
from asgiref.sync import sync_to_async
from django.utils.dateparse import parse_datetime
from strawberry.scalars import JSON

from submissions import models, rules, selectors
from submissions.exceptions import BadUserInput
from submissions.summary import validation_summary

SubmissionStatus = strawberry.enum(models.Status, name="SubmissionStatus")
RecordKind = strawberry.enum(models.RecordKind, name="RecordKind")
ValidationOutcome = strawberry.enum(models.ValidationOutcome, name="ValidationOutcome")
WorkRequestKind = strawberry.enum(models.WorkRequestKind, name="WorkRequestKind")
WorkRequestState = strawberry.enum(models.WorkRequestState, name="WorkRequestState")

MAX_MESSAGE_GROUPS = 1000


@strawberry.type
class SubmissionActions:
    can_edit: bool
    can_validate: bool
    can_submit: bool
    can_delete: bool


@strawberry.type
class ValidationCounts:
    total: int
    validated: int
    unknown: int
    pass_: int = strawberry.field(name="pass")
    warning: int
    error: int
    issues: int

    @classmethod
    def from_counts(cls, counts: dict) -> "ValidationCounts":
        return cls(**{("pass_" if key == "pass" else key): value for key, value in counts.items()})


@strawberry.type
class ValidationMessageGroup:
    kind: RecordKind
    message: str
    offending_column: str | None
    count: int
    record_names: list[str]


@strawberry.type
class ValidationSummary:
    submission_id: strawberry.ID
    animals: ValidationCounts
    samples: ValidationCounts
    groups: strawberry.Private[list[dict]]

    @strawberry.field(description="Messages grouped by kind, text and offending column, most frequent first.")
    def messages(self, kind: RecordKind | None = None, limit: int | None = 100) -> list[ValidationMessageGroup]:
        limit = 100 if limit is None else limit
        if not 0 <= limit <= MAX_MESSAGE_GROUPS:
            raise BadUserInput(f"`limit` must be between 0 and {MAX_MESSAGE_GROUPS}.")
        groups = (g for g in self.groups if kind is None or g["kind"] == kind)
        return [
            ValidationMessageGroup(**{**group, "kind": models.RecordKind(group["kind"])})
            for group in islice(groups, limit)
        ]

    @classmethod
    def from_summary(cls, summary: dict) -> "ValidationSummary":
        return cls(
            submission_id=strawberry.ID(summary["submission_id"]),
            animals=ValidationCounts.from_counts(summary["animals"]),
            samples=ValidationCounts.from_counts(summary["samples"]),
            groups=summary["messages"],
        )


@strawberry.type
class Progress:
    phase: str
    done: int
    total: int


@strawberry.type
class Viewer:
    username: str
    is_service: bool


@strawberry.type
class RecordValidationMessage:
    message: str
    offending_column: str | None


@strawberry.type
class RecordValidation:
    outcome: ValidationOutcome
    messages: list[RecordValidationMessage]


@strawberry.type
class Record:
    kind: RecordKind
    name: str
    attributes: JSON
    validation: RecordValidation | None = strawberry.field(description="Null until the record is validated.")
    accession: str | None = strawberry.field(description="The archive's identifier, once submitted.")

    @classmethod
    def from_model(cls, record: models.Record) -> "Record":
        result = getattr(record, "validation_result", None)
        validation = None
        if result is not None:
            validation = RecordValidation(
                outcome=models.ValidationOutcome(result.outcome),
                messages=[
                    RecordValidationMessage(message=m.message, offending_column=m.offending_column or None)
                    for m in result.messages.all()
                ],
            )
        return cls(
            kind=models.RecordKind(record.kind),
            name=record.name,
            attributes=record.attributes,
            validation=validation,
            accession=record.accession or None,
        )


@strawberry.type(description="Work an owner asked for, which a service claims and does.")
class WorkRequest:
    id: strawberry.ID
    kind: WorkRequestKind
    submission_id: strawberry.ID
    state: WorkRequestState
    attempts: int = strawberry.field(description="How many times it was claimed.")
    created_at: datetime
    lease_id: strawberry.ID | None = strawberry.field(
        description="Only in the answer to the claim: renew, complete or fail the work with it."
    )
    lease_expires_at: datetime | None
    worker: str | None = strawberry.field(description="Who holds, or last held, the lease.")

    @classmethod
    def from_model(cls, request: models.WorkRequest, *, with_lease: bool = False) -> "WorkRequest":
        return cls(
            id=strawberry.ID(str(request.pk)),
            kind=models.WorkRequestKind(request.kind),
            submission_id=strawberry.ID(str(request.submission_id)),
            state=models.WorkRequestState(request.state),
            attempts=request.attempts,
            created_at=request.created_at,
            lease_id=strawberry.ID(request.lease_id) if with_lease and request.lease_id else None,
            lease_expires_at=request.lease_expires_at,
            worker=request.worker or None,
        )


@strawberry.type(description="A work request was stored: claim it (or the next one) with claimWorkRequest.")
class WorkRequestNotice:
    request_id: strawberry.ID
    submission_id: strawberry.ID
    kind: WorkRequestKind

    @classmethod
    def from_notice(cls, notice: dict) -> "WorkRequestNotice":
        return cls(
            request_id=strawberry.ID(notice["request_id"]),
            submission_id=strawberry.ID(notice["submission_id"]),
            kind=models.WorkRequestKind(notice["kind"]),
        )


def _status_display(status: str) -> str:
    return models.Status(status).label


@strawberry.type
class Submission:
    id: strawberry.ID
    title: str
    description: str
    owner: str
    status: SubmissionStatus
    message: str | None
    version: int
    created_at: datetime
    updated_at: datetime
    model: strawberry.Private[models.Submission]

    @strawberry.field
    def status_display(self) -> str:
        return _status_display(self.status)

    @strawberry.field
    async def actions(self) -> SubmissionActions:
        has_records = await sync_to_async(selectors.has_records)(self.model)
        return SubmissionActions(**rules.actions_for(status=self.status, has_records=has_records))

    @strawberry.field
    async def validation_summary(self) -> ValidationSummary:
        summary = await sync_to_async(validation_summary)(submission_id=self.model.pk)
        return ValidationSummary.from_summary(summary)

    @strawberry.field(description="Its records by kind and name; with `withIssues`, those whose outcome is ERROR.")
    async def records(
        self,
        kind: RecordKind | None = None,
        with_issues: bool | None = False,
        first: int | None = 100,
        offset: int | None = 0,
    ) -> list[Record]:
        found = await sync_to_async(selectors.record_list)(
            submission=self.model,
            kind=kind,
            with_issues=bool(with_issues),
            first=100 if first is None else first,
            offset=offset or 0,
        )
        return [Record.from_model(record) for record in found]

    @classmethod
    def from_model(cls, submission: models.Submission) -> "Submission":
        return cls(
            id=strawberry.ID(str(submission.pk)),
            title=submission.title,
            description=submission.description,
            owner=submission.owner.get_username(),
            status=models.Status(submission.status),
            message=submission.message or None,
            version=submission.version,
            created_at=submission.created_at,
            updated_at=submission.updated_at,
            model=submission,
        )


@strawberry.type
class SubmissionStatusEvent:
    submission_id: strawberry.ID
    version: int
    status: SubmissionStatus
    message: str | None
    actions: SubmissionActions
    validation_summary: ValidationSummary | None = strawberry.field(
        description="Always in the first event of a subscription; later, when the change carried one."
    )
    progress: Progress | None = strawberry.field(description="When the change was a progress report.")
    at: datetime

    @strawberry.field
    def status_display(self) -> str:
        return _status_display(self.status)

    @classmethod
    def from_event(cls, event: dict) -> "SubmissionStatusEvent":
        summary, progress = event["validation_summary"], event["progress"]
        return cls(
            submission_id=strawberry.ID(event["submission_id"]),
            version=event["version"],
            status=models.Status(event["status"]),
            message=event["message"] or None,
            actions=SubmissionActions(**event["actions"]),
            validation_summary=ValidationSummary.from_summary(summary) if summary else None,
            progress=Progress(**progress) if progress else None,
            at=parse_datetime(event["at"]),
        )
