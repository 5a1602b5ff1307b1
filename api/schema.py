"""The root schema: the submissions API, with limits against abusive documents."""

import strawberry
from strawberry.tools import merge_types

from api.errors import ErrorCodes, log_unexpected
from api.limits import DocumentLimits, Limits
from submissions.graphql.mutations import Mutation
from submissions.graphql.queries import Query
from submissions.graphql.requests import RequestMutation
from submissions.graphql.subscriptions import Subscription
from submissions.graphql.work import WorkMutation

LIMITS = Limits.from_settings()


class Schema(strawberry.Schema):
    def process_errors(self, errors, execution_context=None) -> None:
        log_unexpected(errors)


schema = Schema(
    query=Query,
    mutation=merge_types("Mutation", (Mutation, RequestMutation, WorkMutation)),
    subscription=Subscription,
    extensions=[
        # Parses and validates each document once, within the limits.
        lambda: DocumentLimits(LIMITS),
        ErrorCodes,
    ],
)
