"""GraphQL over WebSocket: who is connecting, decided once at connection_init."""

import json

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from strawberry.channels import GraphQLWSConsumer as StrawberryGraphQLWSConsumer
from strawberry.exceptions import ConnectionRejectionError
from strawberry.types.unset import UNSET

from api import metrics, shutdown
from api.auth import InvalidCredentials, recent_viewer, resolve_viewer
from api.flow_control import FlowControl
from api.operations import TransportWSHandler, next_message
from submissions.small_queue import SmallQueue

REJECTED_CLOSE_CODE = 4403


class GraphQLWSConsumer(StrawberryGraphQLWSConsumer):
    # Events reach subscriptions through the process-wide listener
    # (submissions.listener), so a connection needs no channel of its own.
    channel_layer_alias = "none"
    graphql_transport_ws_handler_class = TransportWSHandler
    rejected = False
    counted = False
    flow: FlowControl | None = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Strawberry only puts and gets: the same, without asyncio.Queue's deques.
        self.message_queue = SmallQueue()

    async def dispatch(self, message) -> None:
        # Channels hops to a thread before every message to close stale
        # database connections. Most messages (pongs, subscribes) touch no
        # database; the reads a WebSocket causes (credentials, snapshots) run
        # through database_sync_to_async, which does that where they run.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            await super().dispatch(message)
        else:
            await handler(message)

    async def connect(self) -> None:
        if shutdown.shutting_down:
            metrics.websockets_rejected.labels("shutting_down").inc()
            await self.close()  # refused before the handshake: HTTP 403
            return
        shutdown.track(self)
        metrics.websockets_open.inc()
        self.counted = True
        await super().connect()

    async def disconnect(self, code: int) -> None:
        if self.flow is not None:
            self.flow.close()  # a send stalled on a client that left must not hold up the close
        try:
            await super().disconnect(code)
        finally:
            if self.counted:
                metrics.websockets_open.dec()
            shutdown.forget(self)

    async def reject_websocket(self, request):
        metrics.websockets_rejected.labels("origin").inc()
        return await super().reject_websocket(request)

    async def pick_websocket_subprotocol(self, request) -> str | None:
        subprotocol = await super().pick_websocket_subprotocol(request)
        # The legacy graphql-ws protocol has no client acknowledgement.
        if subprotocol == "graphql-transport-ws":
            self.flow = FlowControl()
        return subprotocol

    def encode_json(self, message) -> str:
        # A snapshot read once for many subscriptions of one document carries
        # the same result object to each (api.execution): encode it once.
        if isinstance(message, dict) and message.get("type") == "next":
            payload = message.get("payload")
            if isinstance(payload, dict) and payload.keys() == {"data"} and isinstance(payload["data"], dict):
                return next_message(message["id"], payload["data"])
        return super().encode_json(message)

    async def send(self, text_data=None, bytes_data=None, close=False):
        if self.flow is not None and text_data is not None:
            await self.flow.before_send(self._send_ping)
        await super().send(text_data=text_data, bytes_data=bytes_data, close=close)

    async def _send_ping(self) -> None:
        await super().send(text_data=json.dumps({"type": "ping"}))

    async def receive(self, text_data=None, bytes_data=None):
        if self.flow is not None and text_data and '"pong"' in text_data:
            try:
                if json.loads(text_data).get("type") == "pong":
                    self.flow.on_pong()
            except (ValueError, AttributeError):
                pass  # Strawberry answers malformed messages itself
        await super().receive(text_data=text_data, bytes_data=bytes_data)

    async def get_context(self, request, response) -> dict:
        return {"request": request, "ws": request, "viewer": None}

    async def on_ws_connect(self, context):
        params = context.get("connection_params")
        authorization = params.get("authorization") if isinstance(params, dict) else None
        if authorization is None:
            headers = dict(self.scope["headers"])
            authorization = headers.get(b"authorization", b"").decode("latin1") or None
        # A thousand connections opened with one token need no thread each.
        viewer = recent_viewer(authorization=authorization)
        if viewer is None:
            try:
                viewer = await database_sync_to_async(resolve_viewer)(
                    authorization=authorization, session_user=self.scope.get("user")
                )
            except InvalidCredentials as error:
                raise self._rejection(str(error)) from None
        if viewer is None:
            raise self._rejection("Send 'authorization': 'Bearer <token>' in the connection_init payload, or sign in.")
        context["viewer"] = viewer
        return UNSET

    def _rejection(self, message: str) -> ConnectionRejectionError:
        self.rejected = True
        metrics.websockets_rejected.labels("unauthenticated").inc()
        return ConnectionRejectionError({"message": message, "extensions": {"code": "UNAUTHENTICATED"}})

    async def close(self, code=None, reason=None):
        # Both protocols close a rejected connection with 4403 (Strawberry's
        # legacy graphql-ws handler would use 1011).
        if self.rejected:
            code = REJECTED_CLOSE_CODE
        await super().close(code=code, reason=reason)
