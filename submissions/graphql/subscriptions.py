from collections.abc import AsyncGenerator

import strawberry
from asgiref.sync import sync_to_async
from strawberry.types import Info

from submissions import selectors, work, work_notices
from submissions.graphql.permissions import require_service, require_viewer
from submissions.graphql.types import SubmissionStatusEvent, WorkRequestKind, WorkRequestNotice


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

    @strawberry.subscription(
        description="Services: the requests claimable now (at most 100), then each request as it is stored. "
        "A notice is a hint to claim (claimWorkRequest), not the work: claim on a timer too, for leases that "
        "run out and notices lost on the way."
    )
    async def work_requests(
        self, info: Info, kinds: list[WorkRequestKind] | None = None
    ) -> AsyncGenerator[WorkRequestNotice, None]:
        require_service(info)
        wanted = {str(kind) for kind in kinds or ()}
        listening = info.context["listen_to_channel"](work_notices.WORK_REQUESTED, groups=[work_notices.GROUP])
        async with listening as notices:
            for request in await sync_to_async(work.work_requests_claimable)(kinds=kinds):
                yield WorkRequestNotice.from_notice(work_notices.notice(request))
            async for notice in notices:
                if not wanted or notice["kind"] in wanted:
                    yield WorkRequestNotice.from_notice(notice)
