import pytest

from tests.api.websocket_client import GraphQLSocket


@pytest.fixture
async def connect():
    """Opens GraphQL WebSocket connections (protocol, connection_init payload), closed after the test."""
    sockets = []

    async def open_socket(protocol, payload=None, **kwargs):
        socket = GraphQLSocket(protocol, **kwargs)
        sockets.append(socket)
        ack = await socket.connect(payload)
        assert ack["type"] == "connection_ack", ack
        return socket

    yield open_socket
    for socket in sockets:
        await socket.disconnect()
