"""The legacy graphql-ws protocol (subscriptions-transport-ws): Strawberry's handler, with queries and limits.

Its clients send queries and mutations over the socket too (a `start` whose
document is not a subscription), expecting one `data` and a `complete`.
"""

from django.conf import settings
from graphql import GraphQLError, OperationType, get_operation_ast, parse
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler

from api.errors import operation_limit_error
from api.schema import LIMITS


def _is_subscription(query: str, operation_name: str | None) -> bool:
    """Whether the operation is a subscription; True when that cannot be told (it fails the usual way)."""
    try:
        # Bounded as the schema bounds it (api.limits): this runs on the event loop.
        operation = get_operation_ast(parse(query, **LIMITS.parse_options), operation_name)
    except GraphQLError:
        return True
    return operation is None or operation.operation == OperationType.SUBSCRIPTION


class LegacyWSHandler(BaseGraphQLWSHandler):
    async def send_message(self, message) -> None:
        # Through the consumer, which bounds what an unacknowledged protocol may send.
        await self.websocket.ws_consumer.send_message(message)

    async def handle_start(self, message) -> None:
        if (
            self.connection_acknowledged
            and message["id"] not in self.tasks
            and len(self.tasks) >= settings.WEBSOCKET_MAX_OPERATIONS_PER_CONNECTION
        ):
            await self.send_message({"id": message["id"], "type": "error", "payload": operation_limit_error()})
            return
        await super().handle_start(message)

    async def handle_async_results(self, operation_id, query, operation_name, variables) -> None:
        if _is_subscription(query, operation_name):
            await super().handle_async_results(operation_id, query, operation_name, variables)
            return
        try:
            result = await self.schema.execute(
                query,
                variable_values=variables,
                context_value=self.context,
                root_value=self.root_value,
                operation_name=operation_name,
            )
            await self.send_data_message(result, operation_id)
            await self.send_message({"type": "complete", "id": operation_id})
        finally:
            self.tasks.pop(operation_id, None)
