"""Execute a subscription event once per distinct document, not once per subscriber.

When an event reaches a thousand subscriptions of one submission, they all
yield the same event object (see submissions.graphql.subscriptions). Their
documents and variables are usually the same too, so the result is the same:
it is computed for the first and reused by the others. Our event fields do
not depend on who is asking (permission was checked when subscribing).
"""

import json
from collections.abc import Mapping

from graphql import DocumentNode, ExecutionResult, OperationDefinitionNode
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types import Info


def _result_key(operation: OperationDefinitionNode, variables: Mapping) -> tuple | None:
    if operation.loc is None:
        return None
    name = operation.name.value if operation.name else None
    return operation.loc.source.body, name, json.dumps(variables, sort_keys=True, default=str)


class SharedEventExecutionContext(StrawberryGraphQLCoreExecutionContext):
    def execute_operation(self, serially=None):
        cache = getattr(self.root_value, "shared_results", None)
        key = None if cache is None else _result_key(self.operation, self.variable_values.coerced)
        if key is None:
            return super().execute_operation(serially)
        if key not in cache:
            result = super().execute_operation(serially)
            if self.is_awaitable(result):
                return result  # not shared: only results computed at once are
            cache[key] = result
        return cache[key]


class EventDocument:
    """What a subscription's result for an event depends on: its document and variables.

    Built from the resolver's `info`, to execute events after the
    subscription's own stream has ended (api.operations).
    """

    __slots__ = ("_context", "_document", "_key", "_operation_name", "_raw_variables", "_schema")

    def __init__(self, info: Info, *, raw_variables: dict | None, operation_name: str | None):
        raw_info = info._raw_info
        self._schema = raw_info.schema
        self._document = DocumentNode(definitions=(raw_info.operation, *raw_info.fragments.values()))
        self._context = raw_info.context
        self._raw_variables = raw_variables
        self._operation_name = operation_name
        # Strawberry hands resolvers the coerced variables, as the executor keys them.
        self._key = _result_key(raw_info.operation, raw_info.variable_values)

    async def result(self, event) -> ExecutionResult:
        """The result for `event` (one with shared_results), computed once if it can be at once."""
        cache = event.shared_results
        if self._key is not None and cache is not None and (result := cache.get(self._key)) is not None:
            return result
        executor = SharedEventExecutionContext.build(
            self._schema,
            self._document,
            root_value=event,
            context_value=self._context,
            raw_variable_values=self._raw_variables,
            operation_name=self._operation_name,
        )
        if isinstance(executor, list):  # errors: the variables did not coerce
            return ExecutionResult(data=None, errors=executor)
        result = executor.execute_operation(False)
        return await result if executor.is_awaitable(result) else result
