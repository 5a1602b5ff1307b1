import strawberry
from asgiref.sync import sync_to_async
from strawberry.types import Info

from submissions import selectors, services
from submissions.exceptions import Forbidden
from submissions.graphql.inputs import (
    AddRecordsInput,
    CreateSubmissionInput,
    RecordValidationResultsInput,
    ReportProgressInput,
    UpdateSubmissionStatusInput,
)
from submissions.graphql.permissions import require_service, require_viewer
from submissions.graphql.types import Submission, SubmissionStatusEvent, ValidationSummary


def _run(service, *, viewer, submission_id, **kwargs):
    """Call `service` on the submission `viewer` may see (sync; run in a thread)."""
    submission = selectors.submission_get(viewer=viewer, submission_id=submission_id)
    return service(submission=submission, **kwargs)


def _delete(*, viewer, submission_id) -> str:
    submission = selectors.submission_get(viewer=viewer, submission_id=submission_id)
    if submission.owner_id != viewer.user.pk:
        raise Forbidden("Only its owner may delete a submission.")
    services.submission_delete(submission=submission)
    return str(submission.pk)


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def create_submission(self, info: Info, input: CreateSubmissionInput) -> Submission:
        viewer = require_viewer(info)
        submission = await sync_to_async(services.submission_create)(
            owner=viewer.user, title=input.title, description=input.description
        )
        return Submission.from_model(submission)

    @strawberry.mutation(description="Deletes one's own submission when its actions allow; returns its id.")
    async def delete_submission(self, info: Info, id: strawberry.ID) -> strawberry.ID:
        viewer = require_viewer(info)
        return strawberry.ID(await sync_to_async(_delete)(viewer=viewer, submission_id=id))

    @strawberry.mutation
    async def update_submission_status(self, info: Info, input: UpdateSubmissionStatusInput) -> SubmissionStatusEvent:
        viewer = require_service(info)
        event = await sync_to_async(_run)(
            services.set_status,
            viewer=viewer,
            submission_id=input.id,
            status=input.status,
            message=input.message,
            include_validation=input.include_validation,
            force=input.force,
        )
        return SubmissionStatusEvent.from_event(event)

    @strawberry.mutation(description="Adds records, all or none; returns how many were added.")
    async def add_records(self, info: Info, input: AddRecordsInput) -> int:
        viewer = require_service(info)
        records = [{"kind": r.kind, "name": r.name, "attributes": r.attributes or {}} for r in input.records]
        return await sync_to_async(_run)(
            services.records_add, viewer=viewer, submission_id=input.submission_id, records=records
        )

    @strawberry.mutation
    async def record_validation_results(self, info: Info, input: RecordValidationResultsInput) -> ValidationSummary:
        viewer = require_service(info)
        results = [
            {
                "kind": r.kind,
                "name": r.name,
                "outcome": r.outcome,
                "messages": [{"message": m.message, "offending_column": m.offending_column} for m in r.messages],
            }
            for r in input.results
        ]
        summary = await sync_to_async(_run)(
            services.validation_results_record,
            viewer=viewer,
            submission_id=input.submission_id,
            results=results,
            complete=input.complete,
        )
        return ValidationSummary.from_summary(summary)

    @strawberry.mutation
    async def report_progress(self, info: Info, input: ReportProgressInput) -> SubmissionStatusEvent:
        viewer = require_service(info)
        event = await sync_to_async(_run)(
            services.progress_report,
            viewer=viewer,
            submission_id=input.submission_id,
            phase=input.phase,
            done=input.done,
            total=input.total,
        )
        return SubmissionStatusEvent.from_event(event)
