import strawberry
from strawberry.scalars import JSON

from submissions.graphql.types import RecordKind, SubmissionStatus, ValidationOutcome


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


@strawberry.input
class ReportProgressInput:
    submission_id: strawberry.ID
    phase: str
    done: int
    total: int
