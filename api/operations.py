"""Sending a subscription's results straight to its socket.

Strawberry delivers each result of each subscription through that
subscription's own task: its stream is resumed, the event executed, the
result passed through the extension hooks, encoded and sent. With a thousand
subscribers that is a thousand task switches and stacks of generators per
change. Here the process's listener (submissions.listener) can instead send
a change itself, to every subscription that is up to date and waiting: the
result shared by all subscriptions of one document and variables
(api.execution), encoded once, written to each socket with its operation id.
Anything else (snapshots, gaps, errors, a client behind on its pongs) still
goes through Strawberry.

Only graphql-transport-ws operations can be sent to this way; the legacy
graphql-ws protocol has no flow control, and keeps Strawberry's path.
"""

import json
from collections.abc import Awaitable, Callable
from contextvars import ContextVar

from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler, Operation
from strawberry.types import Info

from api.execution import EventDocument
from submissions.identity_cache import IdentityCache

# Results encoded lately, by identity: one shared result, one encoding.
_encoded: IdentityCache[dict, str] = IdentityCache(size=256)


def next_message(operation_id: str, data: dict) -> str:
    """The graphql-transport-ws `next` message carrying `data`, whose encoding is shared by identity."""
    encoded = _encoded.get(data, lambda data: json.dumps(data, separators=(",", ":")))
    return f'{{"id":{json.dumps(operation_id)},"type":"next","payload":{{"data":{encoded}}}}}'


class OperationSocket:
    """One graphql-transport-ws operation, and the connection it was started on."""

    __slots__ = ("handler", "operation")

    def __init__(self, handler: BaseGraphQLTransportWSHandler, operation: Operation):
        self.handler = handler
        self.operation = operation

    async def send_data(self, data: dict) -> bool:
        """Send `data` as the operation's next result now; False if it is over or the client is behind."""
        # An operation the client completed may not have been cancelled yet:
        # it must send nothing more.
        if self.operation.completed or self.handler.operations.get(self.operation.id) is not self.operation:
            return False
        consumer = self.handler.websocket.ws_consumer
        if consumer.flow is None or consumer.flow.would_wait:
            return False
        await consumer.send(text_data=next_message(self.operation.id, data))
        return True


_current_operation: ContextVar[OperationSocket | None] = ContextVar("current_operation", default=None)


class TransportWSHandler(BaseGraphQLTransportWSHandler):
    """Strawberry's graphql-transport-ws handler, telling each operation's resolvers where it is sent."""

    async def run_operation(self, operation: Operation) -> None:
        # Runs in the operation's own task, so the variable is the operation's.
        _current_operation.set(OperationSocket(self, operation))
        await super().run_operation(operation)


def result_sender(info: Info) -> Callable[[object], Awaitable[bool]] | None:
    """A function sending the result for an event straight to this subscription's socket.

    It takes an event object with shared results (api.execution) and returns
    whether it sent it; when it did not, the event must go through the
    subscription's stream. None when the operation cannot be sent to.
    """
    socket = _current_operation.get()
    if socket is None:
        return None
    operation = socket.operation
    document = EventDocument(info, raw_variables=operation.variables, operation_name=operation.operation_name)

    async def send(event) -> bool:
        result = document.result(event)
        if result is None or result.errors or result.extensions:
            return False
        return await socket.send_data(result.data)

    return send
