import time
from collections import OrderedDict
from collections.abc import AsyncGenerator

import strawberry
from strawberry.types import Info

from submissions import metrics, selectors, streams
from submissions.graphql.permissions import require_viewer
from submissions.graphql.types import SubmissionStatusEvent

# The event objects most recently built for streaming, by the identity of the
# event they come from (a channel-layer message, or a snapshot read shared by
# several subscribers): subscriptions given the same event yield the same
# object, so its result is computed once (api.execution). Bounded; an evicted
# event is simply rebuilt.
_SHARED_EVENTS_KEPT = 256
_shared_events: OrderedDict[int, tuple[dict, SubmissionStatusEvent]] = OrderedDict()


def _shared_event(event: dict) -> SubmissionStatusEvent:
    kept = _shared_events.get(id(event))
    if kept is not None and kept[0] is event:
        return kept[1]
    shared = SubmissionStatusEvent.from_event(event, shared=True)
    _shared_events[id(event)] = (event, shared)
    if len(_shared_events) > _SHARED_EVENTS_KEPT:
        _shared_events.popitem(last=False)
    return shared


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
        with metrics.subscriptions_active.track_inprogress():
            async for event, is_change in streams.submission_events(viewer=viewer, submission_id=submission_id):
                shared_event = _shared_event(event)
                if is_change:
                    metrics.events_delivered.inc()
                    metrics.delivery_latency.observe(max(0.0, time.time() - shared_event.at.timestamp()))
                yield shared_event
