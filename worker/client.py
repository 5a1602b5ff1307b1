"""A small GraphQL client: queries and mutations over HTTP, subscriptions over WebSocket."""

import json
import urllib.error
import urllib.request
from collections.abc import AsyncIterator

from websockets.asyncio.client import connect

PROTOCOL = "graphql-transport-ws"


class GraphQLError(Exception):
    """The server answered with an error; `code` is its extensions.code (NOT_FOUND, INVALID_TRANSITION, ...)."""

    def __init__(self, error: dict):
        super().__init__(error.get("message", "GraphQL error"))
        self.code = (error.get("extensions") or {}).get("code")


class Unreachable(Exception):
    """The server could not be reached, or failed before answering: try again later."""


class Client:
    def __init__(self, url: str, token: str, *, timeout_seconds: float = 30.0):
        self.url = url
        self.ws_url = "ws" + url[len("http") :] if url.startswith("http") else url
        self.token = token
        self.timeout_seconds = timeout_seconds

    def execute(self, query: str, variables: dict | None = None) -> dict:
        """The `data` of a query or mutation; raises GraphQLError or Unreachable."""
        request = urllib.request.Request(
            self.url,
            data=json.dumps({"query": query, "variables": variables or {}}).encode(),
            headers={
                "Content-Type": "application/json",
                "Accept": "application/json",
                "Authorization": f"Bearer {self.token}",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:
                body = json.loads(response.read())
        except urllib.error.HTTPError as error:
            if error.code >= 500:
                raise Unreachable(f"The server answered {error.code}") from error
            body = json.loads(error.read() or b"{}")
        except (OSError, ValueError) as error:  # refused, reset, timed out; a proxy's HTML page
            raise Unreachable(str(error)) from error
        if body.get("errors"):
            raise GraphQLError(body["errors"][0])
        return body["data"]

    async def subscribe(self, query: str, variables: dict | None = None) -> AsyncIterator[dict]:
        """The `data` of each event of a subscription, until the server completes it.

        Raises GraphQLError for an error event; the WebSocket's own errors
        (websockets.ConnectionClosed, OSError) say the connection is gone.
        """
        async with connect(self.ws_url, subprotocols=[PROTOCOL], open_timeout=self.timeout_seconds) as socket:
            await socket.send(
                json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {self.token}"}})
            )
            if json.loads(await socket.recv()).get("type") != "connection_ack":
                raise Unreachable("The server did not acknowledge the connection")
            payload = {"query": query, "variables": variables or {}}
            await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
            async for frame in socket:
                message = json.loads(frame)
                if message["type"] == "ping":
                    await socket.send(json.dumps({"type": "pong"}))
                elif message["type"] == "next":
                    if message["payload"].get("errors"):
                        raise GraphQLError(message["payload"]["errors"][0])
                    yield message["payload"]["data"]
                elif message["type"] == "error":
                    raise GraphQLError(message["payload"][0])
                elif message["type"] == "complete":
                    return
