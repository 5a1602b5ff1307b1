"""GraphQL over WebSocket: who is connecting, decided once at connection_init."""

from asgiref.sync import sync_to_async
from strawberry.channels import GraphQLWSConsumer as StrawberryGraphQLWSConsumer
from strawberry.exceptions import ConnectionRejectionError
from strawberry.types.unset import UNSET

from api.auth import InvalidCredentials, resolve_viewer

REJECTED_CLOSE_CODE = 4403


class GraphQLWSConsumer(StrawberryGraphQLWSConsumer):
    # Events reach subscriptions through the process-wide listener
    # (submissions.listener), so a connection needs no channel of its own.
    channel_layer_alias = "none"
    rejected = False

    async def get_context(self, request, response) -> dict:
        return {"request": request, "ws": request, "viewer": None}

    async def on_ws_connect(self, context):
        params = context.get("connection_params")
        authorization = params.get("authorization") if isinstance(params, dict) else None
        if authorization is None:
            headers = dict(self.scope["headers"])
            authorization = headers.get(b"authorization", b"").decode("latin1") or None
        try:
            viewer = await sync_to_async(resolve_viewer)(
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
        return ConnectionRejectionError({"message": message, "extensions": {"code": "UNAUTHENTICATED"}})

    async def close(self, code=None, reason=None):
        # Both protocols close a rejected connection with 4403 (Strawberry's
        # legacy graphql-ws handler would use 1011).
        if self.rejected:
            code = REJECTED_CLOSE_CODE
        await super().close(code=code, reason=reason)
