"""The benchmark's baselines: WebSocket endpoints served beside the product by bench.asgi, never by api.

- naive (/bench/naive/): Strawberry over Channels as the tutorials wire it.
  Every subscription joins its submission's channel-layer group through its
  own connection's channel, and every group message is run through the
  GraphQL subscription document once per subscriber.
- channels (/bench/channels/?submission=<id>...): a bare Channels consumer
  that joins the groups and forwards each group message as JSON, with no
  GraphQL: what per-connection channel-layer delivery costs on its own.
- raw (/bench/raw/?submission=<id>...): a WebSocket broadcast with no channel
  layer and no GraphQL. A POST to /bench/raw/broadcast/ writes one JSON
  message to every socket of that submission in this process: the limit of
  the transport itself.

None is part of the product: channels and raw ask for no credentials at all.
Import it only once Django is set up (bench.asgi does).
"""

import json
from collections import Counter, defaultdict
from collections.abc import AsyncGenerator
from urllib.parse import parse_qs

import strawberry
from asgiref.sync import sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from strawberry.channels import GraphQLWSConsumer
from strawberry.exceptions import ConnectionRejectionError
from strawberry.types import Info
from strawberry.types.unset import UNSET

from api.auth import InvalidCredentials, resolve_viewer
from submissions import events, selectors
from submissions.graphql.permissions import require_viewer
from submissions.graphql.queries import Query
from submissions.graphql.types import SubmissionStatusEvent


@strawberry.type(name="Subscription")
class NaiveSubscription:
    @strawberry.subscription
    async def submission_status(
        self, info: Info, submission_id: strawberry.ID
    ) -> AsyncGenerator[SubmissionStatusEvent, None]:
        viewer = require_viewer(info)
        submission_id = str(selectors.parse_submission_id(submission_id))
        group = events.group_name(submission_id)
        async with info.context["ws"].listen_to_channel(events.STATUS_CHANGED, groups=[group]) as messages:
            # The snapshot, read after joining the group, as the documented
            # pattern does; it makes set-up comparable with ours.
            snapshot = await sync_to_async(selectors.submission_snapshot)(viewer=viewer, submission_id=submission_id)
            yield SubmissionStatusEvent.from_event(snapshot)
            async for message in messages:
                # The connection's one channel hears the groups of all its
                # subscriptions: keep only this submission's messages.
                if message["submission_id"] == submission_id:
                    yield SubmissionStatusEvent.from_event(message)


naive_schema = strawberry.Schema(query=Query, subscription=NaiveSubscription)


class NaiveGraphQLWSConsumer(GraphQLWSConsumer):
    """Strawberry's consumer with the channel layer on (the default), authenticated at connection_init."""

    async def get_context(self, request, response) -> dict:
        return {"request": request, "ws": request, "viewer": None}

    async def on_ws_connect(self, context):
        params = context.get("connection_params")
        authorization = params.get("authorization") if isinstance(params, dict) else None
        try:
            viewer = await sync_to_async(resolve_viewer)(authorization=authorization, session_user=None)
        except InvalidCredentials as error:
            raise ConnectionRejectionError({"message": str(error)}) from None
        if viewer is None:
            raise ConnectionRejectionError({"message": "Send 'authorization': 'Bearer <token>'."})
        context["viewer"] = viewer
        return UNSET


def _submission_ids(scope) -> list[str] | None:
    """The distinct ?submission=<id> of a connection's URL; None if one is not a number."""
    query = parse_qs(scope["query_string"].decode("latin1"))
    try:
        return list(dict.fromkeys(str(int(value)) for value in query.get("submission", [])))
    except ValueError:
        return None


class ChannelsConsumer(AsyncWebsocketConsumer):
    """Joins the groups of ?submission=<id> (repeatable) and forwards every group message as JSON."""

    async def connect(self) -> None:
        ids = _submission_ids(self.scope)
        if ids is None:
            await self.close()
            return
        self.joined = [events.group_name(submission_id) for submission_id in ids]
        for group in self.joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "joined", ()):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def submission_status(self, message: dict) -> None:
        await self.send(text_data=json.dumps(message))

    async def submission_deleted(self, message: dict) -> None:
        await self.send(text_data=json.dumps(message))


# The raw baseline's sockets, by submission, and the versions it made up.
_raw_sockets: dict[str, set["RawBroadcastConsumer"]] = defaultdict(set)
_raw_versions: Counter[str] = Counter()


class RawBroadcastConsumer(AsyncWebsocketConsumer):
    """Waits, in this process's memory, for what raw_broadcast sends to ?submission=<id>."""

    channel_layer_alias = "none"

    async def connect(self) -> None:
        self.submission_ids = _submission_ids(self.scope)
        if self.submission_ids is None:
            await self.close()
            return
        for submission_id in self.submission_ids:
            _raw_sockets[submission_id].add(self)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        for submission_id in getattr(self, "submission_ids", None) or ():
            _raw_sockets[submission_id].discard(self)


async def raw_broadcast(scope, receive, send) -> None:
    """POST {"submission_id", "message"}: one JSON message, encoded once, written to each of its sockets.

    A bare ASGI handler: Django's URL configuration is the product's, and has no bench route.
    """
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    if scope["method"] != "POST":
        await _respond(send, 405, {"error": "POST only"})
        return
    try:
        document = json.loads(body)
        submission_id, text = str(int(document["submission_id"])), str(document["message"])
    except (ValueError, KeyError, TypeError):
        await _respond(send, 400, {"error": "send {'submission_id': <id>, 'message': <text>}"})
        return
    _raw_versions[submission_id] += 1
    version = _raw_versions[submission_id]
    frame = json.dumps({"submission_id": submission_id, "version": version, "message": text})
    for socket in list(_raw_sockets[submission_id]):
        await socket.send(text_data=frame)
    await _respond(send, 200, {"version": version})


async def _respond(send, status: int, document: dict) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": json.dumps(document).encode()})


# The baselines, by (ASGI scope type, path without its trailing slash).
ROUTES = {
    ("websocket", "/bench/naive"): NaiveGraphQLWSConsumer.as_asgi(schema=naive_schema),
    ("websocket", "/bench/channels"): ChannelsConsumer.as_asgi(),
    ("websocket", "/bench/raw"): RawBroadcastConsumer.as_asgi(),
    ("http", "/bench/raw/broadcast"): raw_broadcast,
}
