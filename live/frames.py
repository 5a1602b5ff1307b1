"""Incoming WebSocket frames: a well-formed message of the negotiated protocol, or a reason to close.

Every frame a client sends passes through `parse` before anything acts on
it, whatever its JSON shape or depth, so that a malformed one closes the
socket with 4400 at once instead of failing somewhere deeper (and leaving a
half-dead handler behind a socket that stays open).
"""

import json

TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"
PROTOCOLS = (TRANSPORT_WS, LEGACY_WS)

MAX_ID_LENGTH = 256

# Message type -> what it must carry: "id" (a short string), "operation" (a
# GraphQL request payload), or an optional object payload.
_SHAPES = {
    TRANSPORT_WS: {
        "connection_init": "optional_payload",
        "ping": "optional_payload",
        "pong": "optional_payload",
        "subscribe": "operation",
        "complete": "id",
    },
    LEGACY_WS: {
        "connection_init": "optional_payload",
        "connection_terminate": "nothing",
        "start": "operation",
        "stop": "id",
    },
}


class MalformedFrame(Exception):
    """The frame is not a well-formed message of the protocol; the message says why (the close reason)."""


def parse(text: str | None, *, protocol: str, max_length: int) -> dict:
    """The message a text frame carries, checked against `protocol`; raises MalformedFrame."""
    if text is None:
        raise MalformedFrame("Messages must be text frames.")
    if len(text) > max_length:
        raise MalformedFrame(f"Message longer than {max_length} characters.")
    try:
        message = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser goes
        raise MalformedFrame("Messages must be JSON.") from None
    if not isinstance(message, dict):
        raise MalformedFrame("A message must be a JSON object.")
    kind = message.get("type")
    shape = _SHAPES[protocol].get(kind) if isinstance(kind, str) else None
    if shape is None:
        raise MalformedFrame(f"Unknown message type for {protocol}.")
    if shape == "optional_payload":
        if message.get("payload") is not None and not isinstance(message["payload"], dict):
            raise MalformedFrame(f"The {kind} payload must be an object.")
    elif shape in ("id", "operation"):
        _check_id(message.get("id"))
        if shape == "operation":
            _check_operation(message.get("payload"))
    return message


def _check_id(operation_id) -> None:
    if not isinstance(operation_id, str) or not 0 < len(operation_id) <= MAX_ID_LENGTH:
        raise MalformedFrame(f"An operation id must be a string of 1 to {MAX_ID_LENGTH} characters.")


def _check_operation(payload) -> None:
    if not isinstance(payload, dict):
        raise MalformedFrame("An operation's payload must be an object.")
    if not isinstance(payload.get("query"), str):
        raise MalformedFrame("An operation's payload must carry its query as a string.")
    for key, kinds in (("variables", dict), ("extensions", dict), ("operationName", str)):
        if payload.get(key) is not None and not isinstance(payload[key], kinds):
            raise MalformedFrame(f"An operation's {key} must be {'a string' if kinds is str else 'an object'}.")
