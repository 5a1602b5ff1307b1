from collections.abc import AsyncGenerator

import strawberry
from asgiref.sync import sync_to_async
from strawberry.types import Info

from submissions import events, selectors
from submissions.exceptions import NotFound
from submissions.graphql.permissions import require_viewer
from submissions.graphql.types import SubmissionStatusEvent
from submissions.listener import RESYNC, listener


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
        snapshot = sync_to_async(selectors.submission_snapshot)
        # Subscribe, then snapshot, then stream: the group is joined before the
        # snapshot is read, so no change committed after the read is missed.
        # Do not read the snapshot before subscribing.
        async with listener().subscribe(submission_id) as inbox:
            event = await snapshot(viewer=viewer, submission_id=submission_id)
            yield SubmissionStatusEvent.from_event(event)
            last_version = event["version"]
            while True:
                event = await inbox.get()
                if event["type"] == events.DELETED:
                    return
                if event is RESYNC or event["version"] > last_version + 1:
                    # Events were lost or reordered on the way: the database
                    # has the current state, newer than anything missed.
                    try:
                        event = await snapshot(viewer=viewer, submission_id=submission_id)
                    except NotFound:
                        return
                if event["version"] <= last_version:
                    continue
                yield SubmissionStatusEvent.from_event(event)
                last_version = event["version"]
