"""The two GraphQL-over-WebSocket protocols: what each calls its messages, and how they are written.

graphql-transport-ws (the graphql-ws library's) and the legacy graphql-ws
(subscriptions-transport-ws) say the same things with other words; the
connection (live.connection) speaks through one of these.
"""

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class Protocol:
    name: str
    start: str  # the client starts an operation
    stop: str  # the client stops one
    result: str  # the server sends a result
    acknowledged: bool  # the client answers pings: flow control is possible
    stop_is_acknowledged: bool  # the server answers a stop with `complete`

    def result_prefix(self, operation_id: str) -> str:
        """A result message of the operation up to its payload: the message is this, the payload, and `}`."""
        return f'{{"id":{json.dumps(operation_id)},"type":"{self.result}","payload":'

    def error_message(self, operation_id: str, errors: list[dict]) -> dict:
        """An operation refused before it ran."""
        # graphql-transport-ws sends the list; the legacy protocol one error.
        return {"id": operation_id, "type": "error", "payload": errors if self.acknowledged else errors[0]}

    @staticmethod
    def complete_message(operation_id: str) -> dict:
        return {"id": operation_id, "type": "complete"}


TRANSPORT_WS = Protocol(
    name="graphql-transport-ws",
    start="subscribe",
    stop="complete",
    result="next",
    acknowledged=True,
    stop_is_acknowledged=False,
)
LEGACY_WS = Protocol(
    name="graphql-ws",
    start="start",
    stop="stop",
    result="data",
    acknowledged=False,
    stop_is_acknowledged=True,
)
PROTOCOLS = {protocol.name: protocol for protocol in (TRANSPORT_WS, LEGACY_WS)}


def encode_payload(data, errors: list[dict] | None = None) -> str:
    """The payload of a result message, encoded."""
    payload = {"data": data} if not errors else {"data": data, "errors": errors}
    return json.dumps(payload, separators=(",", ":"))
