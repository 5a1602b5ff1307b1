"""Baseline WebSocket endpoints for the benchmark (bench/); routed only when BENCH_ENDPOINTS=1.

- naive (/bench/naive/): Strawberry over Channels as the tutorials wire it.
  Every subscription joins its submission's channel-layer group through its
  own connection's channel, and every group message is run through the
  GraphQL subscription document once per subscriber.
- raw (/bench/raw/?submission=<id>...): a bare Channels consumer that joins
  the groups and forwards each group message as JSON, with no GraphQL: what
  per-connection channel-layer delivery costs on its own.

Neither is part of the product: raw asks for no credentials at all.
"""

import json
from collections.abc import AsyncGenerator
from urllib.parse import parse_qs

import strawberry
from asgiref.sync import sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.urls import re_path
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


class RawBroadcastConsumer(AsyncWebsocketConsumer):
    """Joins the groups of ?submission=<id> (repeatable) and forwards every group message as JSON."""

    async def connect(self) -> None:
        query = parse_qs(self.scope["query_string"].decode("latin1"))
        try:
            ids = dict.fromkeys(int(value) for value in query.get("submission", []))
        except ValueError:
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


def bench_routes() -> list:
    """The WebSocket routes of the two baselines."""
    return [
        re_path(r"^bench/naive/?$", NaiveGraphQLWSConsumer.as_asgi(schema=naive_schema)),
        re_path(r"^bench/raw/?$", RawBroadcastConsumer.as_asgi()),
    ]
