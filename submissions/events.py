"""Submission events: what the channel layer carries, and the one path that publishes them.

An event is a plain JSON value (house rule: the channel layer carries nothing
else). It is built by the publisher inside the transaction that made the
change, with the validation summary already computed, and sent only after
that transaction commits, so a rolled-back change is never seen.
"""

import asyncio
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial

from asgiref.sync import async_to_sync
from channels import DEFAULT_CHANNEL_LAYER
from channels.layers import InMemoryChannelLayer, channel_layers, get_channel_layer
from django.db import transaction
from django.utils import timezone

from submissions import metrics, rules
from submissions.models import Submission

logger = logging.getLogger(__name__)

STATUS_CHANGED = "submission.status"
DELETED = "submission.deleted"


def group_name(submission_id: int | str) -> str:
    """The channel-layer group of one submission's events."""
    return f"submission.{int(submission_id)}"


def status_event(
    submission: Submission,
    *,
    has_records: bool,
    validation_summary: dict | None = None,
    progress: dict | None = None,
) -> dict:
    """The event that describes `submission` as it is now."""
    return {
        "type": STATUS_CHANGED,
        "submission_id": str(submission.pk),
        "version": submission.version,
        "status": str(submission.status),
        "message": submission.message,
        "actions": rules.actions_for(status=submission.status, has_records=has_records),
        "validation_summary": validation_summary,
        "progress": progress,
        "at": timezone.now().isoformat(),
    }


def deleted_event(*, submission_id: int, version: int) -> dict:
    return {"type": DELETED, "submission_id": str(submission_id), "version": version}


def publish_on_commit(event: dict) -> None:
    """Send `event` to the submission's subscribers once the current transaction commits."""
    transaction.on_commit(partial(_send, event))


# Changes to one submission run one after another (its row lock), but their
# threads may run their on-commit publications in either order: between
# version 5's COMMIT and its publication, version 6 can lock, commit and
# publish. Holding one of these locks from before the row lock until after the
# publication keeps a process's events in version order. Striped, so that
# memory stays bounded; two submissions sharing a stripe only wait for each
# other within this process.
_ORDER_STRIPES = 64
_order_locks = [threading.Lock() for _ in range(_ORDER_STRIPES)]


@contextmanager
def in_order(submission_id: int) -> Iterator[None]:
    """Around a transaction that changes the submission: its events go out before the next change starts.

    Inside a caller's transaction it does nothing: the events are published
    when that transaction commits, later than this block, and waiting here
    while holding that transaction's locks could deadlock.
    """
    if transaction.get_connection().in_atomic_block:
        yield
        return
    with _order_locks[int(submission_id) % _ORDER_STRIPES]:
        yield


class _PublishingLoop:
    """One long-lived event loop per process, on a thread of its own, for publishing from sync code.

    `async_to_sync` outside a server's event loop (a worker, a management
    command) makes a new event loop, and so a new Redis connection, for every
    call: ~2.3 ms per event measured here. This loop keeps its connections,
    in a layer instance of its own: the process's shared one may be closed
    by code on another loop, which cannot close connections of this one.
    """

    TIMEOUT_SECONDS = 10.0

    def __init__(self):
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = None
        self._lock = threading.Lock()
        self._layer = self._configured_as = None

    def group_send(self, shared_layer, group: str, message: dict) -> None:
        """`shared_layer.group_send`, through this loop's own instance of the same configuration."""
        with self._lock:
            if self._configured_as is not shared_layer:  # the settings changed (tests)
                self._layer, self._configured_as = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER), shared_layer
            layer = self._layer
        self._run(layer.group_send(group, message))

    def _run(self, coroutine):
        future = asyncio.run_coroutine_threadsafe(coroutine, self._running_loop())
        try:
            return future.result(self.TIMEOUT_SECONDS)
        except TimeoutError:
            future.cancel()
            raise

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid():  # a forked child needs a thread of its own
                self._loop, self._pid, self._configured_as = asyncio.new_event_loop(), os.getpid(), None
                threading.Thread(target=self._loop.run_forever, name="event-publisher", daemon=True).start()
            return self._loop


_publishing_loop = _PublishingLoop()


def _group_send(event: dict) -> None:
    layer = get_channel_layer()
    group = group_name(event["submission_id"])
    if isinstance(layer, InMemoryChannelLayer):
        # It lives in one event loop (one process, unit tests): async_to_sync
        # brings the call back to the loop that called the service.
        async_to_sync(layer.group_send)(group, event)
    else:
        _publishing_loop.group_send(layer, group, event)
    metrics.events_published.labels(event["type"]).inc()


def _send(event: dict) -> None:
    # The change is committed whatever happens here. If the layer is down,
    # the event is retried in the background until it is back, so that
    # subscribers hear of it without waiting for the next change.
    try:
        _group_send(event)
    except Exception:
        logger.warning(
            "Could not publish %s of submission %s (version %s); retrying in the background",
            event["type"],
            event["submission_id"],
            event["version"],
            exc_info=True,
        )
        _retries.add(event)


class _Retries:
    """Events that could not be published, retried until the layer is back (for a bounded time).

    Only the newest event of a submission is kept: subscribers that missed an
    older one see a version gap and re-read the submission.
    """

    WINDOW_SECONDS = 120.0
    FIRST_DELAY_SECONDS = 0.5
    MAX_DELAY_SECONDS = 5.0

    def __init__(self):
        self._pending: dict[str, dict] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def add(self, event: dict) -> None:
        with self._lock:
            pending = self._pending.get(event["submission_id"])
            if pending is None or pending["version"] < event["version"]:
                self._pending[event["submission_id"]] = event
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="publish-retries", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        deadline = time.monotonic() + self.WINDOW_SECONDS
        delay = self.FIRST_DELAY_SECONDS
        while True:
            time.sleep(delay)
            with self._lock:
                batch = list(self._pending.values())
            for event in batch:
                try:
                    _group_send(event)
                except Exception:
                    break
                with self._lock:
                    if self._pending.get(event["submission_id"]) is event:
                        del self._pending[event["submission_id"]]
            with self._lock:
                if not self._pending or time.monotonic() > deadline:
                    if self._pending:
                        logger.error(
                            "Gave up publishing %d events; subscribers re-read on the next change", len(self._pending)
                        )
                    self._pending.clear()
                    self._thread = None
                    return
            delay = min(delay * 2, self.MAX_DELAY_SECONDS)


_retries = _Retries()
