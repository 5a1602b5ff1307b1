import time
from collections import OrderedDict
from collections.abc import AsyncGenerator

import strawberry
from strawberry.types import Info

from submissions import events, metrics, selectors, snapshots
from submissions.exceptions import NotFound
from submissions.graphql.permissions import require_viewer
from submissions.graphql.types import SubmissionStatusEvent
from submissions.listener import RESYNC, listener

# The event objects most recently built for streaming, by the identity of the
# channel-layer message they come from: every subscription of this process
# that receives the same message yields the same object, so its result can be
# computed once (api.execution). Bounded; an evicted event is simply rebuilt.
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
        # Subscribe, then snapshot, then stream: the group is joined before the
        # snapshot is read, so no change committed after the read is missed.
        # Do not read the snapshot before subscribing.
        with metrics.subscriptions_active.track_inprogress():
            async with listener().subscribe(submission_id) as inbox:
                event = await snapshots.snapshot(viewer=viewer, submission_id=submission_id, not_before=snapshots.now())
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
                            event = await snapshots.snapshot(
                                viewer=viewer, submission_id=submission_id, not_before=snapshots.now()
                            )
                        except NotFound:
                            return
                    if event["version"] <= last_version:
                        continue
                    shared = _shared_event(event)
                    yield shared
                    last_version = event["version"]
                    metrics.events_delivered.inc()
                    metrics.delivery_latency.observe(max(0.0, time.time() - shared.at.timestamp()))
