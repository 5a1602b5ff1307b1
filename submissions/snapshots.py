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
from dataclasses import dataclass

from asgiref.sync import sync_to_async

from submissions import selectors
from submissions.exceptions import NotFound

_ticks = itertools.count()


def now() -> int:
    """A point in this process's order of events: later calls give larger numbers."""
    return next(_ticks)


@dataclass
class _Read:
    started_at: int
    result: asyncio.Future


_reads: dict[tuple[asyncio.AbstractEventLoop, str], _Read] = {}


async def snapshot(*, viewer, submission_id: str, not_before: int) -> dict:
    """The submission now, read no earlier than `not_before`; NotFound if `viewer` may not see it."""
    key = (asyncio.get_running_loop(), submission_id)
    read = _reads.get(key)
    if read is None or read.started_at <= not_before:
        read = _reads[key] = _Read(
            started_at=now(),
            result=asyncio.ensure_future(sync_to_async(selectors.submission_state)(submission_id=submission_id)),
        )
        read.result.add_done_callback(lambda _: _reads.pop(key, None) if _reads.get(key) is read else None)
    owner_id, event = await asyncio.shield(read.result)
    if not selectors.may_see(viewer, owner_id=owner_id):
        raise NotFound(f"Submission {submission_id} not found.")
    return event
