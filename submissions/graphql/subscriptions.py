import time
from collections.abc import AsyncGenerator

import strawberry
from strawberry.types import Info

from api.operations import result_sender
from submissions import metrics, selectors, streams
from submissions.graphql.permissions import require_viewer
from submissions.graphql.types import SubmissionStatusEvent
from submissions.identity_cache import IdentityCache

# The event objects most recently built for streaming, by the identity of the
# event they come from (a channel-layer message, or a snapshot read shared by
# several subscribers): subscriptions given the same event yield the same
# object, so its result is computed once (api.execution).
_shared_events: IdentityCache[dict, SubmissionStatusEvent] = IdentityCache(size=256)


def _shared_event(event: dict) -> SubmissionStatusEvent:
    return _shared_events.get(event, lambda event: SubmissionStatusEvent.from_event(event, shared=True))


def _delivered(event: SubmissionStatusEvent) -> None:
    metrics.events_delivered.inc()
    metrics.delivery_latency.observe(max(0.0, time.time() - event.at.timestamp()))


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
        # While this stream waits, the changes that are next in order are sent
        # past it, straight to the socket, where the transport allows.
        send_result = result_sender(info)

        async def send(event: dict) -> bool:
            shared_event = _shared_event(event)
            if not await send_result(shared_event):
                return False
            _delivered(shared_event)
            return True

        with metrics.subscriptions_active.track_inprogress():
            async for event, is_change in streams.submission_events(
                viewer=viewer, submission_id=submission_id, send=send if send_result else None
            ):
                shared_event = _shared_event(event)
                if is_change:
                    _delivered(shared_event)
                yield shared_event
