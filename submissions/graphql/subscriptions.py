import time
from collections.abc import AsyncGenerator

import strawberry
from strawberry.types import Info

from api.operations import follower
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
    """What a subscription yields for an event (a change or a snapshot): one object for all subscribers."""
    return _shared_events.get(event, lambda event: SubmissionStatusEvent.from_event(event, shared=True))


def _delivered(change: SubmissionStatusEvent) -> None:
    metrics.events_delivered.inc()
    metrics.delivery_latency.observe(max(0.0, time.time() - change.at.timestamp()))


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
        feed = streams.Feed(viewer=viewer, submission_id=submission_id)
        # Past the snapshot, the transport may follow the feed itself (api.operations).
        if (follow := follower(info, feed, root_of=_shared_event, delivered=_delivered)) is None:
            async for event, is_change in streams.submission_events(feed):
                shared_event = _shared_event(event)
                if is_change:
                    _delivered(shared_event)
                yield shared_event
            return
        snapshot = await feed.open()
        try:
            yield _shared_event(snapshot)
        except BaseException:
            feed.close()
            raise
        follow.start()
