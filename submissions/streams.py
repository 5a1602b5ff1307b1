"""A subscriber's view of one submission: a snapshot, then every change in version order.

Subscribe, snapshot, stream: the process joins the submission's group before
the snapshot is read, so no change committed after the read is missed. Do not
read the snapshot before subscribing (tests/api/test_websocket.py shows why).

Events can arrive out of order: two changes committed a moment apart are
published from different threads or processes. One that arrives early waits
(briefly) for those before it. If they do not come, they were lost, and the
database's current state, newer than anything missed, is read instead; the
same happens when the listener says events may have been lost.
"""

import asyncio
from collections.abc import AsyncIterator

from submissions import events, snapshots
from submissions.exceptions import NotFound
from submissions.listener import INBOX_SIZE, RESYNC, listener

# How long an early event waits for the ones before it.
REORDER_WAIT_SECONDS = 0.5


async def submission_events(*, viewer, submission_id: str) -> AsyncIterator[tuple[dict, bool]]:
    """Yield (event, is_change): a change as published, or a snapshot (is_change False).

    Every subscriber of this process gets the same event object for the same
    change, and subscribers whose snapshots come from one read the same
    snapshot object, so what is built from them can be shared.

    Raises NotFound if `viewer` may not see the submission; ends when it is deleted.
    """
    async with listener().subscribe(submission_id) as inbox:
        snapshot = await snapshots.snapshot(viewer=viewer, submission_id=submission_id, not_before=snapshots.now())
        yield snapshot, False
        last_version = snapshot["version"]
        early: dict[int, dict] = {}
        loop = asyncio.get_running_loop()
        give_up_at = 0.0  # when the oldest early event stops waiting
        while True:
            if early:
                try:
                    event = await asyncio.wait_for(inbox.get(), max(0.0, give_up_at - loop.time()))
                except TimeoutError:
                    event = RESYNC
            else:
                event = await inbox.get()

            if event is RESYNC:
                try:
                    snapshot = await snapshots.snapshot(
                        viewer=viewer, submission_id=submission_id, not_before=snapshots.now()
                    )
                except NotFound:
                    return
                if snapshot["version"] > last_version:
                    yield snapshot, False
                    last_version = snapshot["version"]
                early = {version: event for version, event in early.items() if version > last_version}
                give_up_at = loop.time() + REORDER_WAIT_SECONDS
            elif event["type"] == events.DELETED:
                return
            elif event["version"] > last_version:
                if not early:
                    give_up_at = loop.time() + REORDER_WAIT_SECONDS
                early[event["version"]] = event
                if len(early) > INBOX_SIZE:
                    early.clear()
                    inbox.put(RESYNC)

            while last_version + 1 in early:
                last_version += 1
                yield early.pop(last_version), True
