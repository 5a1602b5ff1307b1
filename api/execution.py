"""Execute a subscription event once per distinct document, not once per subscriber.

When an event reaches a thousand subscriptions of one submission, they all
yield the same event object (see submissions.graphql.subscriptions). Their
documents and variables are usually the same too, so the result is the same:
it is computed for the first and reused by the others. Our event fields do
not depend on who is asking (permission was checked when subscribing).
"""

import json

from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext


class SharedEventExecutionContext(StrawberryGraphQLCoreExecutionContext):
    def execute_operation(self, serially=None):
        cache = getattr(self.root_value, "shared_results", None)
        if cache is None or self.operation.loc is None:
            return super().execute_operation(serially)
        key = (
            self.operation.loc.source.body,
            self.operation.name.value if self.operation.name else None,
            json.dumps(self.variable_values.coerced, sort_keys=True, default=str),
        )
        if key not in cache:
            result = super().execute_operation(serially)
            if self.is_awaitable(result):
                return result  # not shared: only results computed at once are
            cache[key] = result
        return cache[key]
