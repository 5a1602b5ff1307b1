"""A GraphQL WebSocket client for the tests, driving the ASGI application in-process."""

from channels.testing import WebsocketCommunicator

from api.asgi import application

PROTOCOLS = ["graphql-transport-ws", "graphql-ws"]
STATUS = """
subscription ($id: ID!) {
  submissionStatus(submissionId: $id) {
    submissionId version status statusDisplay message
    actions { canEdit canValidate canSubmit canDelete }
    validationSummary { animals { total } samples { total } }
    progress { phase done total }
  }
}
"""
UPDATE_STATUS = """
mutation ($input: UpdateSubmissionStatusInput!) { updateSubmissionStatus(input: $input) { version } }
"""
TIMEOUT_SECONDS = 5


class GraphQLSocket:
    """A GraphQL WebSocket client speaking either protocol, over the in-process communicator."""

    def __init__(self, protocol, *, headers=()):
        self.protocol = protocol
        self.legacy = protocol == "graphql-ws"
        self.communicator = WebsocketCommunicator(
            application, "/graphql/", subprotocols=[protocol], headers=list(headers)
        )

    async def connect(self, payload=None) -> dict:
        connected, subprotocol = await self.communicator.connect()
        assert connected and subprotocol == self.protocol
        await self.communicator.send_json_to({"type": "connection_init", "payload": payload or {}})
        return await self.receive()

    async def subscribe(self, op_id, variables, query=STATUS):
        await self.communicator.send_json_to(
            {
                "id": op_id,
                "type": "start" if self.legacy else "subscribe",
                "payload": {"query": query, "variables": variables},
            }
        )

    async def receive(self) -> dict:
        """The next message that is not a keep-alive; pings are answered, as the protocol asks."""
        while True:
            message = await self.communicator.receive_json_from(timeout=TIMEOUT_SECONDS)
            if message["type"] == "ping":
                await self.communicator.send_json_to({"type": "pong"})
            elif message["type"] != "ka":  # legacy keep-alive
                return message

    async def next_event(self, op_id) -> dict:
        message = await self.receive()
        assert message["type"] == ("data" if self.legacy else "next"), message
        assert message["id"] == op_id
        assert "errors" not in message["payload"], message
        return message["payload"]["data"]["submissionStatus"]

    async def close_code(self) -> int:
        output = await self.communicator.receive_output(timeout=TIMEOUT_SECONDS)
        while output["type"] != "websocket.close":
            output = await self.communicator.receive_output(timeout=TIMEOUT_SECONDS)
        return output.get("code")

    async def disconnect(self):
        await self.communicator.disconnect()


def bearer(caller) -> dict:
    return {"authorization": f"Bearer {caller.token}"}
