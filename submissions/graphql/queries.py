import strawberry
from asgiref.sync import sync_to_async
from strawberry.types import Info

from submissions import selectors
from submissions.graphql.permissions import optional_viewer, require_viewer
from submissions.graphql.types import Submission, SubmissionStatus, ValidationSummary, Viewer
from submissions.summary import validation_summary


def _summary_of(*, viewer, submission_id) -> dict:
    submission = selectors.submission_get(viewer=viewer, submission_id=submission_id)
    return validation_summary(submission_id=submission.pk)


@strawberry.type
class Query:
    @strawberry.field(description="The caller; null when anonymous; a bad token is an UNAUTHENTICATED error.")
    def viewer(self, info: Info) -> Viewer | None:
        viewer = optional_viewer(info)
        return Viewer(username=viewer.username, is_service=viewer.is_service) if viewer else None

    @strawberry.field
    async def submission(self, info: Info, id: strawberry.ID) -> Submission | None:
        viewer = require_viewer(info)
        submission = await sync_to_async(selectors.submission_get)(viewer=viewer, submission_id=id)
        return Submission.from_model(submission)

    @strawberry.field
    async def submissions(
        self, info: Info, status: SubmissionStatus | None = None, first: int | None = 50, offset: int | None = 0
    ) -> list[Submission]:
        viewer = require_viewer(info)
        found = await sync_to_async(selectors.submission_list)(
            viewer=viewer, status=status, first=50 if first is None else first, offset=offset or 0
        )
        return [Submission.from_model(submission) for submission in found]

    @strawberry.field
    async def validation_summary(self, info: Info, submission_id: strawberry.ID) -> ValidationSummary | None:
        viewer = require_viewer(info)
        summary = await sync_to_async(_summary_of)(viewer=viewer, submission_id=submission_id)
        return ValidationSummary.from_summary(summary)
