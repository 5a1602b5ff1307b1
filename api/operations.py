"""Subscriptions past their first result, followed without a task or a stream each.

Strawberry runs each subscription as a task iterating a stack of generators
(its stream, graphql-core's, ours): per change and subscriber a task switch,
the extension hooks and a result to encode; per idle subscription some
twenty kilobytes held. Here a graphql-transport-ws subscription runs through
Strawberry until its first result (the snapshot) is sent; then its stream
ends without a `complete`, and a Follower keeps the operation open:

- a change that is next in order reaches a caught-up subscription straight
  from the process's listener (submissions.listener): the result shared by
  all subscriptions of one document and variables (api.execution), encoded
  once, written to each socket with its operation id;
- anything else (a gap, a resync, a client behind on its pongs, the end)
  starts a short task that catches this one subscription up, and ends.

The legacy graphql-ws protocol has no flow control, and keeps Strawberry's
path from start to end. Results executed here skip the schema extensions'
per-result hooks: ours act on parsing, validation and errors only, and
errors are mapped here the same way (api.errors).
"""

import asyncio
import json
import logging
from collections.abc import Callable
from contextlib import suppress
from contextvars import ContextVar

from django.conf import settings
from graphql import ExecutionResult, GraphQLError
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler, Operation
from strawberry.types import Info

from api.errors import log_unexpected, operation_limit_error, to_wire
from api.execution import EventDocument
from submissions.identity_cache import IdentityCache
from submissions.streams import Feed

logger = logging.getLogger(__name__)

# Results encoded lately, by identity: one shared result, one encoding.
_encoded: IdentityCache[dict, str] = IdentityCache(size=256)


def next_message(operation_id: str, data: dict) -> str:
    """The graphql-transport-ws `next` message carrying `data`, whose encoding is shared by identity."""
    encoded = _encoded.get(data, lambda data: json.dumps(data, separators=(",", ":")))
    return f'{{"id":{json.dumps(operation_id)},"type":"next","payload":{{"data":{encoded}}}}}'


class OperationSocket:
    """One graphql-transport-ws operation, and the connection it was started on."""

    __slots__ = ("handler", "operation")

    def __init__(self, handler: "TransportWSHandler", operation: Operation):
        self.handler = handler
        self.operation = operation

    @property
    def is_open(self) -> bool:
        # An operation the client completed may not have been cleaned up yet:
        # it must send nothing more.
        return self.handler.operations.get(self.operation.id) is self.operation

    async def send(self, result: ExecutionResult, *, wait: bool) -> bool:
        """Send `result` as the operation's next message.

        False if the operation is over, or if the client is behind on its
        pongs and `wait` is False; with `wait`, sending waits for the pong.
        """
        consumer = self.handler.websocket.ws_consumer
        if not self.is_open or (not wait and consumer.flow.would_wait):
            return False
        if result.errors:
            log_unexpected(result.errors)
            payload = {"data": result.data, "errors": [to_wire(error).formatted for error in result.errors]}
            text = json.dumps({"id": self.operation.id, "type": "next", "payload": payload})
        else:
            text = next_message(self.operation.id, result.data)
        # Waits for the client's pong when it is two windows behind; False if it was closed meanwhile.
        return await consumer.send_text(text, result=True)

    async def complete(self) -> None:
        """Tell the client the operation is over, as Strawberry would when its stream ends."""
        if self.is_open:
            self.handler.forget_id(self.operation.id)
            await self.handler.send_message({"id": self.operation.id, "type": "complete"})


class Follower:
    """A subscription after its first result: its feed's changes, sent to its socket."""

    def __init__(
        self,
        socket: OperationSocket,
        document: EventDocument,
        feed: Feed,
        *,
        root_of: Callable[[dict], object],
        delivered: Callable[[object], None],
    ):
        self.socket = socket
        self.document = document
        self.feed = feed
        self.root_of = root_of  # an event -> the root value its result is executed on
        self.delivered = delivered  # called with the root value of each change sent
        self._catching_up: asyncio.Task | None = None

    def start(self) -> None:
        self.socket.handler.followers[self.socket.operation.id] = self
        # Strawberry's stream for the operation ends now: it must not send `complete`.
        self.socket.operation.completed = True
        inbox = self.feed.inbox
        inbox.send = self._send_now
        inbox.on_event = self._catch_up
        self._catch_up()  # events may have come while the snapshot was sent

    def stop(self) -> None:
        """Follow no more: the client completed the operation, the connection closed, or the feed ended."""
        followers = self.socket.handler.followers
        if followers.get(self.socket.operation.id) is self:
            del followers[self.socket.operation.id]
        inbox = self.feed.inbox
        inbox.send = inbox.on_event = None
        if self._catching_up is not None and self._catching_up is not asyncio.current_task():
            self._catching_up.cancel()
        self.feed.close()  # the group is left in the background

    async def _send_now(self, event: dict) -> bool:
        root = self.root_of(event)
        result = await self.document.result(root)
        if result.errors:
            return False  # the catch-up sends errors
        try:
            sent = await self.socket.send(result, wait=False)
        except Exception:
            # The connection is closing under us (its disconnect is on the way).
            logger.debug("Sending to a closing WebSocket failed", exc_info=True)
            self.stop()
            return False
        if sent:
            self.delivered(root)
        return sent

    def _catch_up(self) -> None:
        self._catching_up = asyncio.ensure_future(self._run_catch_up())
        self._catching_up.add_done_callback(self._caught_up)

    def _caught_up(self, task: asyncio.Task) -> None:
        if self._catching_up is task:
            self._catching_up = None

    async def _run_catch_up(self) -> None:
        finished = True  # unless caught up with the operation still open
        try:
            while (item := await self.feed.next(wait=False)) is not None:
                event, is_change = item
                root = self.root_of(event)
                if not await self.socket.send(await self.document.result(root), wait=True):
                    return
                if is_change:
                    self.delivered(root)
            if self.feed.ended:
                await self.socket.complete()
            else:
                finished = not self.socket.is_open
        except Exception as error:
            # As when Strawberry's stream fails: the error (masked and logged), then `complete`.
            with suppress(Exception):
                failed = ExecutionResult(data=None, errors=[GraphQLError(str(error), original_error=error)])
                await self.socket.send(failed, wait=True)
                await self.socket.complete()
        finally:
            if finished:
                self.stop()


SHARED_DOCUMENTS = 256
SHARED_DOCUMENT_MAX_LENGTH = 4096
_documents: dict[str, str] = {}
_current_operation: ContextVar[OperationSocket | None] = ContextVar("current_operation", default=None)


class TransportWSHandler(BaseGraphQLTransportWSHandler):
    """Strawberry's graphql-transport-ws handler, keeping the operations that outlive their streams."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.followers: dict[str, Follower] = {}

    async def send_message(self, message) -> None:
        # Through the consumer's flow control, which holds back results only.
        await self.websocket.ws_consumer.send_message(message)

    async def handle_subscribe(self, message) -> None:
        if (
            self.connection_acknowledged
            and message["id"] not in self.operations
            and len(self.operations) >= settings.WEBSOCKET_MAX_OPERATIONS_PER_CONNECTION
        ):
            await self.send_message({"id": message["id"], "type": "error", "payload": [operation_limit_error()]})
            return
        await super().handle_subscribe(message)

    async def handle_connection_init(self, message) -> None:
        await super().handle_connection_init(message)
        # Cancelled by now: a connection open for hours need not keep it.
        self.connection_init_timeout_task = None

    async def run_operation(self, operation: Operation) -> None:
        # Pages subscribe with the same few documents: keep one copy of each short one.
        if len(operation.query) <= SHARED_DOCUMENT_MAX_LENGTH:
            operation.query = _documents.setdefault(operation.query, operation.query)
            if len(_documents) > SHARED_DOCUMENTS:
                _documents.pop(next(iter(_documents)))
        # Runs in the operation's own task, so the variable is the operation's.
        _current_operation.set(OperationSocket(self, operation))
        await super().run_operation(operation)
        if self.followers.get(operation.id) is not None:
            # The operation lives on, but its finished task (and all that was
            # set in its context) need not: Strawberry only cancels it.
            done = asyncio.get_running_loop().create_future()
            done.set_result(None)
            operation.task = done

    async def cleanup_operation(self, operation_id: str) -> None:
        # The client completed the operation (or the connection is closing).
        await super().cleanup_operation(operation_id)
        if follower := self.followers.get(operation_id):
            follower.stop()

    async def shutdown(self) -> None:
        await super().shutdown()
        # Also those whose operation was already forgotten (completed by the server).
        for follower in list(self.followers.values()):
            follower.stop()


def follower(info: Info, feed: Feed, **callbacks) -> Follower | None:
    """A Follower for the subscription being resolved, to start after its first result; None if it has none."""
    socket = _current_operation.get()
    if socket is None:
        return None
    operation = socket.operation
    document = EventDocument(info, raw_variables=operation.variables, operation_name=operation.operation_name)
    return Follower(socket, document, feed, **callbacks)
