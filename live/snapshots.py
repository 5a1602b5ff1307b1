"""Snapshot reads shared by the subscriptions that need the same submission at the same time.

A thousand browsers opening one submission's page, or every subscriber of it
re-reading after the channel layer came back, would otherwise make a thousand
identical database reads on the one thread that serves them. A read is shared
only with subscribers that asked for it before it started, so that nobody
gets a state older than the moment it joined the submission's group (or saw
a gap in its events).
"""

import asyncio
import itertools

from channels.db import database_sync_to_async

from submissions import selectors
from submissions.exceptions import NotFound

_ticks = itertools.count()


def now() -> int:
    """A point in this process's order of events: later calls give larger numbers."""
    return next(_ticks)


class _Reads:
    """The reads of one submission's state: at most one running, and one to follow it.

    Subscribers that cannot use the running read (it started before they
    asked) wait together for the following one, so a crowd arriving over
    time costs two reads at a time, not one each.
    """

    def __init__(self, submission_id: str):
        self.submission_id = submission_id
        self.running: asyncio.Future | None = None
        self.running_since = -1
        self.following: asyncio.Future | None = None

    def read_started_after(self, moment: int) -> asyncio.Future:
        if self.running is not None and self.running_since > moment:
            return self.running
        if self.following is None:
            self.following = asyncio.get_running_loop().create_future()
        result = self.following
        if self.running is None:
            self._start_following()
        return result

    def _start_following(self) -> None:
        self.running, self.following = self.following, None
        self.running_since = now()
        asyncio.ensure_future(self._read(self.running))

    async def _read(self, result: asyncio.Future) -> None:
        try:
            state = await database_sync_to_async(selectors.submission_state)(submission_id=self.submission_id)
            result.set_result(state)
        except Exception as error:  # handed to every waiter
            result.set_exception(error)
        finally:
            if not result.done():  # cancelled: its waiters must not wait for ever
                result.cancel()
            self.running = None
            if self.following is not None:
                self._start_following()
            else:
                _reads.pop((asyncio.get_running_loop(), self.submission_id), None)


_reads: dict[tuple[asyncio.AbstractEventLoop, str], _Reads] = {}


async def snapshot(*, viewer, submission_id: str, not_before: int) -> dict:
    """The submission now, read no earlier than `not_before`; NotFound if `viewer` may not see it."""
    key = (asyncio.get_running_loop(), submission_id)
    reads = _reads.get(key) or _reads.setdefault(key, _Reads(submission_id))
    owner_id, event = await asyncio.shield(reads.read_started_after(not_before))
    if not selectors.may_see(viewer, owner_id=owner_id):
        raise NotFound(f"Submission {submission_id} not found.")
    return event
