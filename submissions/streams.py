"""A subscriber's view of one submission: a snapshot, then every change in version order.

Subscribe, snapshot, stream: the process joins the submission's group before
the snapshot is read, so no change committed after the read is missed. Do not
read the snapshot before subscribing (tests/api/test_websocket.py shows why).

The listener hands out events in version order (waiting briefly for late
ones); a version still missing was lost, and the database's current state,
newer than anything missed, is read instead. The same happens when the
listener says events may have been lost.
"""

from collections.abc import AsyncIterator, Awaitable, Callable

from submissions import events, snapshots
from submissions.exceptions import NotFound
from submissions.listener import RESYNC, listener


async def submission_events(
    *, viewer, submission_id: str, send: Callable[[dict], Awaitable[bool]] | None = None
) -> AsyncIterator[tuple[dict, bool]]:
    """Yield (event, is_change): a change as published, or a snapshot (is_change False).

    Every subscriber of this process gets the same event object for the same
    change, and subscribers whose snapshots come from one read the same
    snapshot object, so what is built from them can be shared.

    `send`, if given, is offered each change that is next in order while this
    stream waits, and delivers it past the stream; a change it refuses
    (returning False) is yielded as usual.

    Raises NotFound if `viewer` may not see the submission; ends when it is deleted.
    """
    events_listener = listener()
    async with events_listener.subscribe(submission_id, send=send) as inbox:
        snapshot = await snapshots.snapshot(viewer=viewer, submission_id=submission_id, not_before=snapshots.now())
        events_listener.read_at(submission_id, snapshot["version"])
        yield snapshot, False
        inbox.last_version = snapshot["version"]
        while True:
            event = await inbox.get()
            last_version = inbox.last_version
            if event["type"] == events.DELETED:
                return
            if event is RESYNC or event["version"] > last_version + 1:
                try:
                    snapshot = await snapshots.snapshot(
                        viewer=viewer, submission_id=submission_id, not_before=snapshots.now()
                    )
                except NotFound:
                    return
                events_listener.read_at(submission_id, snapshot["version"])
                if snapshot["version"] > last_version:
                    yield snapshot, False
                    inbox.last_version = snapshot["version"]
            elif event["version"] == last_version + 1:
                yield event, True
                inbox.last_version = event["version"]
