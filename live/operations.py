"""One GraphQL operation run for a live transport: a WebSocket operation or an HTTP stream (live.http).

A query or a mutation gives one result. A subscription's resolver asks the
transport how its events reach it (`submission_events`): here the transport
takes the subscription over, and `follow` makes it a member of its group
(live.groups), which sends the snapshot, then every change.
"""

import json
from contextlib import aclosing

from graphql import GraphQLError
from strawberry.types.execution import ExecutionResult, PreExecutionError

from api.errors import to_wire
from live.channel_listen import listen_to_channel
from live.groups import Document, groups
from live.protocol import encode_payload
from submissions.exceptions import NotFound


class Refused(Exception):
    """The operation never ran (a parse, validation or limit error): its errors, formatted."""

    def __init__(self, errors: list[dict]):
        super().__init__(errors)
        self.errors = errors


async def _no_events():
    return
    yield  # an async generator that yields nothing


async def execute(
    schema, *, query: str, variables, operation_name, context: dict, send_result, allowed_operation_types=None
) -> str | None:
    """Run the operation, sending each result (encoded) with `send_result`.

    Returns the id of the submission a subscription handed over (to `follow`),
    or None when the operation is over. Raises Refused if it never ran.
    """
    handed_over: dict = {}

    def submission_events(*, viewer, submission_id):
        handed_over["submission_id"] = submission_id
        return _no_events()

    stream = await schema.stream(
        query,
        variable_values=variables,
        # Other subscriptions follow channel-layer groups of their own.
        context_value={**context, "submission_events": submission_events, "listen_to_channel": listen_to_channel},
        operation_name=operation_name,
        allowed_operation_types=allowed_operation_types,
    )
    async with aclosing(stream):
        async for result in stream:
            if isinstance(result, PreExecutionError) or not isinstance(result, ExecutionResult):
                errors = result.errors if isinstance(result, ExecutionResult) else None
                raise Refused([error.formatted for error in errors or [GraphQLError("Not supported here.")]])
            if not await send_result(payload_of(result)):
                return None
    return handed_over.get("submission_id")


async def run(
    schema,
    subscriber,
    *,
    query: str,
    variables,
    operation_name,
    context: dict,
    send_result,
    allowed_operation_types=None,
) -> None:
    """Run the operation for `subscriber`: a query or mutation completes after its result, a subscription follows.

    Raises Refused if it never ran.
    """
    submission_id = await execute(
        schema,
        query=query,
        variables=variables,
        operation_name=operation_name,
        context=context,
        send_result=send_result,
        allowed_operation_types=allowed_operation_types,
    )
    if submission_id is None:
        await subscriber.complete()
    else:
        await follow(
            schema,
            subscriber,
            query=query,
            variables=variables,
            operation_name=operation_name,
            submission_id=submission_id,
        )


async def follow(schema, subscriber, *, query: str, variables, operation_name, submission_id: str) -> None:
    """Make `subscriber` a member of its group: the snapshot, then every change.

    `subscriber.group` is set while it is a member. A submission it may not
    see gets a NOT_FOUND error, and the subscription completes.
    """
    document = Document(query, operation_name, json.dumps(variables, sort_keys=True, default=str))
    group = groups(schema, execute=_execute).group_for(
        submission_id=submission_id, document=document, variables=variables
    )
    subscriber.group = group
    try:
        await group.add(subscriber)
    except NotFound as error:
        subscriber.group = None
        wire = to_wire(GraphQLError(error.message, path=["submissionStatus"], original_error=error))
        await subscriber.send_result(encode_payload(None, [wire.formatted]))
        await subscriber.complete()


def masked_error_payload(error: Exception) -> str:
    """A result carrying `error` as a client may see it (masked, with a code)."""
    wire = to_wire(GraphQLError(str(error), original_error=error))
    return encode_payload(None, [wire.formatted])


async def _execute(schema, root, document: Document, variables: dict | None) -> str:
    """A group's result for `root`: its document executed once, for every member."""
    # The subscription field's resolver hands `root` on as it is (Strawberry
    # maps a subscription's events so); who may see it was checked on joining.
    result = await schema.execute(
        document.query,
        variable_values=variables,
        context_value={"viewer": None},
        root_value=root,
        operation_name=document.operation_name,
    )
    return payload_of(result)


def payload_of(result) -> str:
    errors = [error.formatted for error in result.errors] if result.errors else None
    return encode_payload(result.data, errors)
