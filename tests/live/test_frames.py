"""Incoming frames: a well-formed message of the negotiated protocol, or a reason to close with 4400."""

import json

import pytest

from live import frames
from live.frames import LEGACY_WS, TRANSPORT_WS, MalformedFrame

MAX_LENGTH = 10_000
DEEP = "[" * 100_000 + "]" * 100_000

GARBAGE = [
    None,  # a binary frame
    "",
    "not json",
    "[1]",
    '"x"',
    "null",
    "1",
    "1" * 5000,  # past Python's digit limit for int()
    DEEP,
    '{"type": 5}',
    '{"type": ["subscribe"]}',
    '{"type": "next", "id": "1"}',  # a server's message
    '{"no": "type"}',
    '{"type": "connection_init", "payload": [1]}',
    '{"type": "connection_init", "payload": "x"}',
    '{"type": "pong", "payload": ' + "[" * 3000 + "]" * 3000 + "}",
]
OPERATION_GARBAGE = [
    {"payload": {"query": "{ viewer { username } }"}},  # no id
    {"id": 1, "payload": {"query": "{ viewer { username } }"}},
    {"id": "", "payload": {"query": "{ viewer { username } }"}},
    {"id": "x" * 257, "payload": {"query": "{ viewer { username } }"}},
    {"id": "1"},
    {"id": "1", "payload": None},
    {"id": "1", "payload": []},
    {"id": "1", "payload": {"query": None}},
    {"id": "1", "payload": {"query": 5}},
    {"id": "1", "payload": {"query": "{ a }", "variables": [1]}},
    {"id": "1", "payload": {"query": "{ a }", "variables": "x"}},
    {"id": "1", "payload": {"query": "{ a }", "operationName": 5}},
    {"id": "1", "payload": {"query": "{ a }", "extensions": "x"}},
]


@pytest.mark.parametrize("protocol", frames.PROTOCOLS)
@pytest.mark.parametrize("text", GARBAGE, ids=lambda text: repr(text)[:30])
def test_it_refuses_anything_but_a_message_of_the_protocol(protocol, text):
    with pytest.raises(MalformedFrame):
        frames.parse(text, protocol=protocol, max_length=1_000_000)


@pytest.mark.parametrize(("protocol", "kind"), [(TRANSPORT_WS, "subscribe"), (LEGACY_WS, "start")])
@pytest.mark.parametrize("message", OPERATION_GARBAGE, ids=lambda message: json.dumps(message)[:40])
def test_it_refuses_an_operation_that_is_not_well_formed(protocol, kind, message):
    with pytest.raises(MalformedFrame):
        frames.parse(json.dumps({"type": kind, **message}), protocol=protocol, max_length=MAX_LENGTH)


def test_it_refuses_a_frame_longer_than_the_limit():
    text = json.dumps({"type": "ping", "payload": {"pad": "x" * MAX_LENGTH}})
    with pytest.raises(MalformedFrame, match="longer than"):
        frames.parse(text, protocol=TRANSPORT_WS, max_length=MAX_LENGTH)


@pytest.mark.parametrize(
    ("protocol", "kind"),
    [(TRANSPORT_WS, "start"), (TRANSPORT_WS, "stop"), (LEGACY_WS, "subscribe"), (LEGACY_WS, "ping")],
)
def test_each_protocol_knows_only_its_own_message_types(protocol, kind):
    with pytest.raises(MalformedFrame, match="Unknown message type"):
        frames.parse(json.dumps({"type": kind, "id": "1"}), protocol=protocol, max_length=MAX_LENGTH)


@pytest.mark.parametrize(
    ("protocol", "message"),
    [
        (TRANSPORT_WS, {"type": "connection_init"}),
        (TRANSPORT_WS, {"type": "connection_init", "payload": None}),
        (TRANSPORT_WS, {"type": "connection_init", "payload": {"authorization": "Bearer x"}}),
        (TRANSPORT_WS, {"type": "ping"}),
        (TRANSPORT_WS, {"type": "pong", "payload": {"at": 1}}),
        (TRANSPORT_WS, {"type": "complete", "id": "1"}),
        (
            TRANSPORT_WS,
            {
                "type": "subscribe",
                "id": "1",
                "payload": {"query": "{ a }", "variables": None, "operationName": None, "extensions": {}},
            },
        ),
        (LEGACY_WS, {"type": "connection_init", "payload": {}}),
        (LEGACY_WS, {"type": "start", "id": "1", "payload": {"query": "{ a }", "variables": {"id": "1"}}}),
        (LEGACY_WS, {"type": "stop", "id": "1"}),
        (LEGACY_WS, {"type": "connection_terminate"}),
    ],
)
def test_it_hands_back_a_well_formed_message_as_sent(protocol, message):
    assert frames.parse(json.dumps(message), protocol=protocol, max_length=MAX_LENGTH) == message
