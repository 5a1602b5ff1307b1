"""A GraphQL WebSocket client over a real socket, speaking either protocol."""

import asyncio
import json

import websockets

TIMEOUT_SECONDS = 10

STATUS_SUBSCRIPTION = """
subscription ($id: ID!) {
  submissionStatus(submissionId: $id) {
    submissionId version status message
    validationSummary { animals { total } }
    progress { phase done total }
  }
}
"""


class GraphQLWebSocket:
    def __init__(self, url: str, protocol: str = "graphql-transport-ws"):
        self.url = url
        self.protocol = protocol
        self.legacy = protocol == "graphql-ws"
        self.socket = None

    async def connect(self, payload: dict) -> dict:
        self.socket = await websockets.connect(self.url, subprotocols=[self.protocol])
        await self.send({"type": "connection_init", "payload": payload})
        return await self.receive()

    async def send(self, message: dict) -> None:
        await self.socket.send(json.dumps(message))

    async def receive(self) -> dict:
        """The next message that is not a keep-alive; pings are answered, as the protocol asks."""
        while True:
            message = json.loads(await asyncio.wait_for(self.socket.recv(), TIMEOUT_SECONDS))
            if message["type"] == "ping":
                await self.send({"type": "pong"})
            elif message["type"] != "ka":  # legacy keep-alive
                return message

    async def subscribe(self, op_id: str, variables: dict, query: str = STATUS_SUBSCRIPTION) -> None:
        kind = "start" if self.legacy else "subscribe"
        await self.send({"id": op_id, "type": kind, "payload": {"query": query, "variables": variables}})

    async def next_event(self, op_id: str) -> dict:
        message = await self.receive()
        assert message["type"] == ("data" if self.legacy else "next"), message
        assert message["id"] == op_id and "errors" not in message["payload"], message
        return message["payload"]["data"]["submissionStatus"]

    async def close(self) -> None:
        if self.socket is not None:
            await self.socket.close()
