from collections.abc import AsyncGenerator

import strawberry
from strawberry.types import Info

from submissions import selectors
from submissions.graphql.permissions import require_viewer
from submissions.graphql.types import SubmissionStatusEvent


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="The submission now (with its validation summary), then every committed change in version order."
    )
    async def submission_status(
        self, info: Info, submission_id: strawberry.ID
    ) -> AsyncGenerator[SubmissionStatusEvent, None]:
        viewer = require_viewer(info)
        submission_id = str(selectors.parse_submission_id(submission_id))
        # The transport serving the subscription says how its events reach it
        # (live.connection takes them over and sends them itself).
        async for event in info.context["submission_events"](viewer=viewer, submission_id=submission_id):
            yield SubmissionStatusEvent.from_event(event)
