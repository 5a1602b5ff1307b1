"""A subscriber's view of one submission: a snapshot, then every change in version order.

Subscribe, snapshot, stream: the process joins the submission's group before
the snapshot is read, so no change committed after the read is missed. Do not
read the snapshot before subscribing (tests/api/test_websocket.py shows why).

The listener hands out events in version order (waiting briefly for late
ones); a version still missing was lost, and the database's current state,
newer than anything missed, is read instead. The same happens when the
listener says events may have been lost.
"""

import asyncio
from collections.abc import AsyncIterator

from submissions import events, metrics, snapshots
from submissions.exceptions import NotFound
from submissions.listener import RESYNC, Inbox, listener


class Feed:
    """One subscriber's events of one submission.

    Every subscriber of this process gets the same event object for the same
    change, and subscribers whose snapshots come from one read the same
    snapshot object, so what is built from them can be shared.
    """

    def __init__(self, *, viewer, submission_id: str):
        self.viewer = viewer
        self.submission_id = submission_id
        self.inbox = Inbox()
        self.ended = False  # the submission was deleted, or the viewer may no longer see it
        self._listener = listener()
        self._open = False

    async def open(self) -> dict:
        """Start receiving the submission's events; returns its snapshot.

        Raises NotFound if the viewer may not see the submission.
        """
        await self._listener.join(self.submission_id, self.inbox)
        self._open = True
        metrics.subscriptions_active.inc()
        try:
            snapshot = await self._snapshot()
        except BaseException:
            await self.close()
            raise
        self.inbox.last_version = snapshot["version"]
        return snapshot

    def close(self) -> asyncio.Future:
        """Receive nothing more, at once; the future is done once the process has left the group if it should."""
        if not self._open:
            done = asyncio.get_running_loop().create_future()
            done.set_result(None)
            return done
        self._open = False
        metrics.subscriptions_active.dec()
        return self._listener.leave(self.submission_id, self.inbox)

    async def next(self, *, wait: bool = True) -> tuple[dict, bool] | None:
        """The next thing to deliver: (a change as published, True) or (a snapshot, False).

        None once the feed has ended, or, with `wait` False, when nothing is
        pending (the subscriber is caught up).
        """
        inbox = self.inbox
        while not self.ended:
            event = await inbox.get() if wait else inbox.get_nowait()
            if event is None:
                return None
            last_version = inbox.last_version
            if event["type"] == events.DELETED:
                self.ended = True
            elif event is RESYNC or event["version"] > last_version + 1:
                try:
                    snapshot = await self._snapshot()
                except NotFound:
                    self.ended = True
                    return None
                if snapshot["version"] > last_version:
                    inbox.last_version = snapshot["version"]
                    return snapshot, False
            elif event["version"] == last_version + 1:
                inbox.last_version = event["version"]
                return event, True
        return None

    async def _snapshot(self) -> dict:
        snapshot = await snapshots.snapshot(
            viewer=self.viewer, submission_id=self.submission_id, not_before=snapshots.now()
        )
        self._listener.read_at(self.submission_id, snapshot["version"])
        return snapshot


async def submission_events(feed: Feed) -> AsyncIterator[tuple[dict, bool]]:
    """Yield (event, is_change) from a new feed: its snapshot (is_change False), then what Feed.next gives.

    Raises NotFound if the viewer may not see the submission; ends when it is deleted.
    """
    snapshot = await feed.open()
    try:
        yield snapshot, False
        while (item := await feed.next()) is not None:
            yield item
    finally:
        await feed.close()
