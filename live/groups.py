"""Subscriptions multiplexed: one group per submission, document and variables, in each process.

A group is the listener's sink for its submission (live.listener). Each
change is executed once for the group and encoded once, then written to
each member that is caught up and whose client is reading. A member that is
not (its client is behind on its pongs, or it missed a version) is caught up
by a short task of its own: from the group's recent history while that
reaches back far enough, else from a fresh snapshot of the submission. Idle
members hold no task; what a slow member costs is bounded by the history,
which all members share.

Subscribe, snapshot, stream: the group joins the submission's channel-layer
group before a member reads its snapshot, so no change committed after the
read is missed; changes that arrive during the read are in the history.
"""

import asyncio
import contextvars
import logging
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Protocol

from live import snapshots
from live.listener import listener
from submissions import events, metrics
from submissions.exceptions import NotFound
from submissions.graphql.types import SubmissionStatusEvent

logger = logging.getLogger(__name__)

# Recent results a lagging member is caught up from before it needs a snapshot.
HISTORY_SIZE = 64
# Snapshot results kept for members joining at once (one read, one execution).
SNAPSHOT_RESULTS = 4


class Subscriber(Protocol):
    """One subscription of one connection (live.connection.Operation)."""

    viewer: object

    def can_send_now(self) -> bool:
        """Whether a result would be written at once (the client is reading)."""

    async def writable(self) -> bool:
        """Wait until a result would be written at once; False if the subscription ended meanwhile."""

    async def send_result(self, payload: str) -> bool:
        """Send an encoded result; False if the subscription has ended."""

    async def complete(self) -> None:
        """The subscription is over (its submission was deleted): tell the client."""

    async def fail(self, error: Exception) -> None:
        """Catching the subscription up failed: tell the client (masked), and end it."""


@dataclass(eq=False, slots=True)
class Member:
    subscriber: Subscriber
    last_version: int | None = None  # None until its snapshot is sent
    busy: bool = True  # joining, or catching up: changes wait for it in the history
    must_reread: bool = False  # events may have been lost: only a snapshot will do
    task: asyncio.Task | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Document:
    """What a result depends on: the subscription's document, operation and variables."""

    query: str
    operation_name: str | None
    variables_key: str  # the variables, encoded with sorted keys


class Group:
    def __init__(self, *, submission_id: str, document: Document, variables: dict | None, execute, on_empty):
        self.submission_id = submission_id
        self.document = document
        self.variables = variables
        self._execute_document = execute  # (root value, document, variables) -> encoded payload
        self._on_empty: Callable[[Group], None] = on_empty
        self._members: dict[Subscriber, Member] = {}
        self._history: OrderedDict[int, str] = OrderedDict()
        self._latest: int | None = None
        self._snapshot_results: OrderedDict[int, tuple[dict, asyncio.Future]] = OrderedDict()
        self._joining: asyncio.Future | None = None

    def __len__(self) -> int:
        return len(self._members)

    async def add(self, subscriber: Subscriber) -> None:
        """Send `subscriber` the submission now, then every change; raises NotFound if it may not see it."""
        member = self._members[subscriber] = Member(subscriber)
        metrics.subscriptions_active.inc()
        try:
            await self._joined()
            snapshot = await self._read(member)
            if not await subscriber.send_result(await self._snapshot_payload(snapshot)):
                return
            member.last_version = snapshot["version"]
            await self._catch_up(member)  # changes that came during the read
        except BaseException:
            self.remove(subscriber)
            raise

    def remove(self, subscriber: Subscriber) -> None:
        """Send `subscriber` nothing more."""
        member = self._members.pop(subscriber, None)
        if member is None:
            return
        metrics.subscriptions_active.dec()
        if member.task is not None and member.task is not asyncio.current_task():
            member.task.cancel()
        if not self._members:
            self._on_empty(self)
            if self._joining is not None:
                self._joining = None
                listener().leave(self.submission_id, self)

    async def _joined(self) -> None:
        if self._joining is None:
            self._joining = asyncio.ensure_future(listener().join(self.submission_id, self))
        joining = self._joining
        try:
            await asyncio.shield(joining)
        except Exception:
            if self._joining is joining:
                self._joining = None  # the next member tries again
            raise

    async def _read(self, member: Member) -> dict:
        snapshot = await snapshots.snapshot(
            viewer=member.subscriber.viewer, submission_id=self.submission_id, not_before=snapshots.now()
        )
        listener().read_at(self.submission_id, snapshot["version"])
        return snapshot

    async def _snapshot_payload(self, snapshot: dict) -> str:
        # Members joining at once share one read (live.snapshots): one execution too.
        key = id(snapshot)
        if (cached := self._snapshot_results.get(key)) is None or cached[0] is not snapshot:
            cached = self._snapshot_results[key] = (snapshot, asyncio.ensure_future(self._execute(snapshot)))
            if len(self._snapshot_results) > SNAPSHOT_RESULTS:
                self._snapshot_results.popitem(last=False)
        return await asyncio.shield(cached[1])

    async def _execute(self, event: dict) -> str:
        return await self._execute_document(SubmissionStatusEvent.from_event(event), self.document, self.variables)

    async def deliver(self, event: dict) -> None:
        """The listener's next event of the submission: executed once, written to each member reading."""
        if event["type"] == events.DELETED:
            for member in list(self._members.values()):
                await self._end(member)
            return
        version = event["version"]
        if self._latest is not None and version <= self._latest:
            return  # late: members read a snapshot past it meanwhile
        self._latest = version
        payload = await self._execute(event)
        self._history[version] = payload
        if len(self._history) > HISTORY_SIZE:
            self._history.popitem(last=False)
        sent = 0
        for member in list(self._members.values()):
            if member.busy or version <= member.last_version:
                continue
            if version == member.last_version + 1 and member.subscriber.can_send_now():
                if await member.subscriber.send_result(payload):
                    member.last_version = version
                    sent += 1
            else:
                self._start_catching_up(member)
        if sent:  # counted once per change, not per member: metrics cost time too
            metrics.events_delivered.inc(sent)
            metrics.delivery_latency.observe(max(0.0, time.time() - datetime.fromisoformat(event["at"]).timestamp()))

    def resync(self) -> None:
        """Events may have been lost: every member re-reads the submission."""
        self._history.clear()
        self._latest = None
        for member in self._members.values():
            member.must_reread = True
            if not member.busy:
                self._start_catching_up(member)

    def _start_catching_up(self, member: Member) -> None:
        member.busy = True
        member.task = asyncio.get_running_loop().create_task(self._run_catch_up(member), context=contextvars.Context())

    async def _run_catch_up(self, member: Member) -> None:
        try:
            await self._catch_up(member)
        except NotFound:
            await self._end(member)
        except Exception as error:
            self.remove(member.subscriber)
            await member.subscriber.fail(error)
        finally:
            member.task = None

    async def _catch_up(self, member: Member) -> None:
        """Bring `member` to the latest version: from the history, or from a snapshot."""
        subscriber = member.subscriber
        try:
            while await subscriber.writable():
                following = member.last_version + 1
                if not member.must_reread and (payload := self._history.get(following)) is not None:
                    if not await subscriber.send_result(payload):
                        return
                    member.last_version = following
                    metrics.events_delivered.inc()
                elif member.must_reread or (self._latest is not None and self._latest > member.last_version):
                    member.must_reread = False
                    snapshot = await self._read(member)
                    if snapshot["version"] <= member.last_version:
                        return  # nothing newer to show
                    if not await subscriber.send_result(await self._snapshot_payload(snapshot)):
                        return
                    member.last_version = snapshot["version"]
                else:
                    return  # caught up
        finally:
            # No await between the last check and this: a change delivered
            # from now on finds the member caught up.
            member.busy = False

    async def _end(self, member: Member) -> None:
        self.remove(member.subscriber)
        await member.subscriber.complete()


class Groups:
    """The groups of one event loop, by submission, document and variables."""

    def __init__(self, execute: Callable):
        self._execute = execute
        self._groups: dict[tuple[str, Document], Group] = {}

    def group_for(self, *, submission_id: str, document: Document, variables: dict | None) -> Group:
        key = (submission_id, document)
        if (group := self._groups.get(key)) is None:
            group = self._groups[key] = Group(
                submission_id=submission_id,
                document=document,
                variables=variables,
                execute=self._execute,
                on_empty=lambda group: self._groups.pop(key, None),
            )
        return group


_groups: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Groups]" = weakref.WeakKeyDictionary()


def groups(schema, *, execute) -> Groups:
    """The groups of the running event loop (one per process in a server).

    `execute(schema, root, document, variables)` gives a group's encoded result for a root value.
    """
    loop = asyncio.get_running_loop()
    if loop not in _groups:
        _groups[loop] = Groups(partial(execute, schema))
    return _groups[loop]
