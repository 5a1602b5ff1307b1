"""Owner requests: validation, submission, a record's fix; each allowed exactly when its action is."""

import strawberry
from strawberry.types import Info

from submissions import requests
from submissions.graphql.inputs import UpdateRecordInput
from submissions.graphql.mutations import in_service_thread, run_on_visible
from submissions.graphql.permissions import require_viewer
from submissions.graphql.types import Record, Submission


@strawberry.type
class RequestMutation:
    @strawberry.mutation(
        description='When actions.canValidate: asks a worker to validate the records (WAITING "Validation requested").'
    )
    async def request_validation(self, info: Info, submission_id: strawberry.ID) -> Submission:
        viewer = require_viewer(info)
        submission = await in_service_thread(run_on_visible)(
            requests.validation_request, viewer=viewer, submission_id=submission_id
        )
        return Submission.from_model(submission)

    @strawberry.mutation(
        description='When actions.canSubmit: asks a worker to submit to the archive (SUBMITTED "Submission requested").'
    )
    async def request_submission(self, info: Info, submission_id: strawberry.ID) -> Submission:
        viewer = require_viewer(info)
        submission = await in_service_thread(run_on_visible)(
            requests.submission_request, viewer=viewer, submission_id=submission_id
        )
        return Submission.from_model(submission)

    @strawberry.mutation(
        description="When actions.canEdit: replaces a record's attributes and clears its validation result."
    )
    async def update_record(self, info: Info, input: UpdateRecordInput) -> Record:
        viewer = require_viewer(info)
        record = await in_service_thread(run_on_visible)(
            requests.record_update,
            viewer=viewer,
            submission_id=input.submission_id,
            kind=input.kind,
            name=input.name,
            attributes=input.attributes,
        )
        return Record.from_model(record)
