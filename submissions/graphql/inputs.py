import strawberry
from strawberry.scalars import JSON

from submissions.graphql.types import RecordKind, SubmissionStatus, ValidationOutcome, WorkRequestKind
from submissions.work import DEFAULT_LEASE_SECONDS


@strawberry.input
class CreateSubmissionInput:
    title: str
    description: str = ""


@strawberry.input
class UpdateSubmissionStatusInput:
    id: strawberry.ID
    status: SubmissionStatus
    message: str | None = None
    include_validation: bool = False
    force: bool = False


@strawberry.input
class RecordInput:
    kind: RecordKind
    name: str
    attributes: JSON | None = None


@strawberry.input
class AddRecordsInput:
    submission_id: strawberry.ID
    records: list[RecordInput]


@strawberry.input
class ValidationMessageInput:
    message: str
    offending_column: str | None = None


@strawberry.input
class ValidationResultInput:
    kind: RecordKind
    name: str
    outcome: ValidationOutcome
    messages: list[ValidationMessageInput] = strawberry.field(default_factory=list)


@strawberry.input
class RecordValidationResultsInput:
    submission_id: strawberry.ID
    results: list[ValidationResultInput]
    complete: bool = False
    lease_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="The worker's lease (claimWorkRequest): when given and no longer held, NOT_FOUND and nothing "
        "changes, so a worker whose lease was handed on cannot write next to the new holder.",
    )


@strawberry.input
class ReportProgressInput:
    submission_id: strawberry.ID
    phase: str
    done: int
    total: int
    lease_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="The worker's lease (claimWorkRequest): when given and no longer held, NOT_FOUND and nothing "
        "changes, so a worker whose lease was handed on cannot write next to the new holder.",
    )


@strawberry.input
class UpdateRecordInput:
    submission_id: strawberry.ID
    kind: RecordKind
    name: str
    attributes: JSON


@strawberry.input
class ClaimWorkRequestInput:
    worker: str = strawberry.field(description="Who claims: a name for operators to read.")
    kinds: list[WorkRequestKind] | None = strawberry.field(default=None, description="Only these kinds; all if null.")
    lease_seconds: int = strawberry.field(
        default=DEFAULT_LEASE_SECONDS,
        description="How long the work is the claimer's alone; renew it before it runs out.",
    )


@strawberry.input
class RenewWorkLeaseInput:
    lease_id: strawberry.ID
    lease_seconds: int = DEFAULT_LEASE_SECONDS


@strawberry.input
class CompleteWorkRequestInput:
    lease_id: strawberry.ID
    message: str | None = strawberry.field(default=None, description="The status message; a default says the outcome.")


@strawberry.input
class FailWorkRequestInput:
    lease_id: strawberry.ID
    message: str
    retry: bool = strawberry.field(
        default=False, description="Hand the work back to be claimed again, rather than set the submission to ERROR."
    )


@strawberry.input
class RecordAccessionInput:
    kind: RecordKind
    name: str
    accession: str


@strawberry.input
class RecordAccessionsInput:
    submission_id: strawberry.ID
    accessions: list[RecordAccessionInput]
