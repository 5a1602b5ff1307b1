"""Limits on GraphQL documents: each refused with BAD_USER_INPUT before it runs, in time linear in the document."""

import dataclasses
import time

import pytest
from django.test import Client
from graphql import GraphQLSyntaxError, get_introspection_query, parse
from graphql.language import Lexer, Source, TokenKind

from api.limits import Limits, operation_cost, shape_errors
from api.schema import LIMITS, schema
from submissions.models import Submission
from tests.api.websocket_client import PROTOCOLS, STATUS, bearer
from tests.conftest import error_codes

LIMITS_HERE = Limits(
    max_chars=20_000,
    max_tokens=2_000,
    max_fields=200,
    max_fragment_spreads=50,
    max_depth=10,
    max_aliases=30,
    max_cost=10_000,
)


def exponential_fragments(fragments: int) -> str:
    """A chain of fragments that each spread the next twice: ~1 KB that expands 2^n times."""
    chain = [f"fragment F{n} on Query {{ ...F{n + 1} ...F{n + 1} }}" for n in range(fragments - 1)]
    return " ".join(["query { ...F0 }", *chain, f"fragment F{fragments - 1} on Query {{ viewer {{ username }} }}"])


def nested(depth: int) -> str:
    """`depth` fields with selections, one in another (the schema itself is only 3 deep)."""
    return "query {" + " submissions {" * depth + " id" + " }" * (depth + 1)


def tokens(document: str) -> int:
    lexer, count = Lexer(Source(document)), 0
    while lexer.advance().kind != TokenKind.EOF:  # comments are skipped
        count += 1
    return count


def add_records(submission_id: int, *, tokens_wanted: int) -> str:
    """An addRecords mutation of exactly `tokens_wanted` tokens (8 per record, then `__typename`s)."""
    records = " ".join(f'{{kind: ANIMAL, name: "cow-{n}"}}' for n in range((tokens_wanted - 20) // 8))
    document = f'mutation {{ addRecords(input: {{submissionId: "{submission_id}", records: [{records}]}}) }}'
    padding = tokens_wanted - tokens(document)
    return document[:-1] + " __typename" * padding + "}" if padding else document


def aliased(count: int) -> str:
    return "{ " + " ".join(f"a{n}: viewer {{ username }}" for n in range(count)) + " }"


def cost_of(document: str, variables=None) -> int:
    return operation_cost(schema._schema, parse(document), variables=variables)


def messages(shape_of: str) -> list[str]:
    return [error.message for error in shape_errors(parse(shape_of), LIMITS_HERE)]


def test_the_defaults_are_those_documented_in_the_settings():
    assert LIMITS == LIMITS_HERE


class TestTheExponentialFragmentChain:
    @pytest.mark.parametrize("fragments", [25, 30, 40])
    def test_it_is_refused_at_once(self, owner, fragments):
        document = exponential_fragments(fragments)
        assert len(document) < 2_000

        started = time.perf_counter()
        result = owner.execute(document)
        elapsed = time.perf_counter() - started

        assert error_codes(result) == ["BAD_USER_INPUT"]
        assert "data" not in result
        assert elapsed < 1.0  # Strawberry's limiters took minutes

    def test_its_figures_are_found_without_expanding_it(self):
        # 24 fragments: under the spread limit; its cost counts each spread.
        document = parse(exponential_fragments(24))
        assert shape_errors(document, LIMITS_HERE) == []
        assert operation_cost(schema._schema, document) == 2**23

    def test_it_is_refused_by_its_cost_under_the_spread_limit(self, owner):
        result = owner.execute(exponential_fragments(24))
        assert error_codes(result) == ["BAD_USER_INPUT"]
        assert "costs 8,388,608; at most 10,000" in result["errors"][0]["message"]

    def test_aliases_in_fragments_count_at_each_spread(self):
        chain = [f"fragment F{n} on Query {{ ...F{n + 1} ...F{n + 1} }}" for n in range(20)]
        document = " ".join(["query { ...F0 }", *chain, "fragment F20 on Query { me: viewer { username } }"])
        assert messages(document) == [
            "The document uses 1,048,576 aliases (those in a fragment counted at each of its spreads); at most 30 "
            "are allowed. Alias fewer fields, or split them into several requests."
        ]


class TestDepth:
    def test_it_accepts_a_document_as_deep_as_allowed(self):
        assert messages(nested(10)) == []

    def test_it_refuses_a_document_one_level_deeper_before_validating_it(self, owner):
        result = owner.execute(nested(11))
        assert error_codes(result) == ["BAD_USER_INPUT"]
        assert result["errors"][0]["message"] == (
            "'anonymous' exceeds maximum operation depth of 10: it nests 11 fields with selections. "
            "Select less deeply nested fields."
        )

    def test_it_counts_depth_through_fragments(self):
        document = (
            "query Deep { submission(id: 1) { ...S } } "
            "fragment S on Submission { validationSummary { ...V } } "
            "fragment V on ValidationSummary { animals { total } }"
        )
        assert shape_errors(parse(document), LIMITS_HERE) == []
        assert shape_errors(parse(document), dataclasses.replace(LIMITS_HERE, max_depth=2))[0].message.startswith(
            "'Deep' exceeds maximum operation depth of 2: it nests 3 fields"
        )

    def test_it_does_not_count_introspection(self, owner):
        result = owner.execute(get_introspection_query(descriptions=True, input_value_deprecation=True))
        assert "errors" not in result
        assert result["data"]["__schema"]["queryType"]["name"] == "Query"


class TestAliases:
    def test_it_accepts_as_many_aliases_as_allowed(self, owner):
        assert "errors" not in owner.execute(aliased(30))

    def test_it_refuses_one_more(self, owner):
        result = owner.execute(aliased(31))
        assert error_codes(result) == ["BAD_USER_INPUT"]
        assert result["errors"][0]["message"].startswith("The document uses 31 aliases")


class TestFieldsAndSpreads:
    def test_it_accepts_as_many_fields_as_allowed(self, owner):
        document = "{ viewer { " + "username " * 199 + "} }"
        assert "errors" not in owner.execute(document)

    def test_it_refuses_one_more_field(self, owner):
        result = owner.execute("{ viewer { " + "username " * 200 + "} }")
        assert error_codes(result) == ["BAD_USER_INPUT"]
        assert result["errors"][0]["message"] == (
            "The document selects 201 fields; at most 200 are allowed. "
            "Select fewer fields, or split the document into several requests."
        )

    def test_it_refuses_many_copies_of_a_field_before_validation_compares_them_all(self, owner):
        # graphql-core compares each pair: 400 copies took 0.8 s.
        result = owner.execute("{ " + "viewer { username } " * 400 + "}")
        assert error_codes(result) == ["BAD_USER_INPUT"]
        assert "800 fields" in result["errors"][0]["message"]

    def test_it_accepts_as_many_fragment_spreads_as_allowed(self, owner):
        document = "{ " + "...V " * 50 + "} fragment V on Query { viewer { username } }"
        assert "errors" not in owner.execute(document)

    def test_it_refuses_one_more_spread(self, owner):
        result = owner.execute("{ " + "...V " * 51 + "} fragment V on Query { viewer { username } }")
        assert error_codes(result) == ["BAD_USER_INPUT"]
        assert result["errors"][0]["message"].startswith("The document has 51 fragment spreads; at most 50")


class TestSizeAndTokens:
    def test_it_accepts_a_document_as_long_as_allowed(self, owner):
        document = "{ viewer { username } } #"
        document += "x" * (20_000 - len(document))
        assert "errors" not in owner.execute(document)

    def test_it_refuses_one_character_more(self, owner):
        document = "{ viewer { username } } #" + "x" * 20_000
        result = owner.execute(document[:20_001])
        assert error_codes(result) == ["BAD_USER_INPUT"]
        assert "more than 20000 code points" in result["errors"][0]["message"]

    def test_it_accepts_as_many_tokens_as_allowed(self, service, submission):
        document = add_records(submission.pk, tokens_wanted=2_000)
        assert tokens(document) == 2_000
        result = service.execute(document)
        assert "errors" not in result
        assert result["data"]["addRecords"] == 247

    def test_it_refuses_one_token_more(self, service, submission):
        document = add_records(submission.pk, tokens_wanted=2_001)
        with pytest.raises(GraphQLSyntaxError):
            parse(document, **LIMITS.parse_options)
        result = service.execute(document)
        assert error_codes(result) == ["BAD_USER_INPUT"]
        assert (
            result["errors"][0]["message"] == "Syntax Error: Document contains more than 2000 tokens. Parsing aborted."
        )
        assert not submission.records.exists()


GROUPS = "messages(limit: 1000) { count }"
SUBMISSIONS_WITH_MESSAGES = """
query ($n: Int) { submissions(first: $n) { id validationSummary { animals { total } messages { count } } } }
"""


class TestCost:
    def test_list_sizes_multiply_through_nesting(self):
        # 50 submissions (the default), each 1 + its summary: 1 + animals 1 + 100 message groups.
        assert cost_of("{ submissions { id validationSummary { animals { total } messages { count } } } }") == (
            50 * (1 + 1 + 1 + 100)
        )
        assert cost_of("{ submissions(first: 3) { validationSummary { messages(limit: 7) { count } } } }") == 3 * (
            1 + 1 + 7
        )

    def test_variables_are_taken_into_account(self):
        assert cost_of(SUBMISSIONS_WITH_MESSAGES, {"n": 2}) == 2 * 103
        assert cost_of(SUBMISSIONS_WITH_MESSAGES, {"n": None}) == 50 * 103  # null: the default
        assert cost_of(SUBMISSIONS_WITH_MESSAGES, {}) == 50 * 103
        assert cost_of(SUBMISSIONS_WITH_MESSAGES.replace("$n: Int", "$n: Int = 4"), {}) == 4 * 103

    def test_fragments_and_aliases_count_where_they_are_spread(self):
        document = """
        { a: submissions(first: 2) { ...Summary } b: submissions(first: 3) { ...Summary } }
        fragment Summary on Submission { validationSummary { messages(limit: 5) { count } } }
        """
        assert cost_of(document) == (2 + 3) * (1 + 1 + 5)

    def test_introspection_costs_a_fixed_amount(self):
        assert cost_of(get_introspection_query(descriptions=True)) == 100

    def test_it_accepts_a_query_that_costs_as_much_as_allowed(self, owner):
        # 97 * 103 = 9,991 and 98 * 103 = 10,094
        assert "errors" not in owner.execute(SUBMISSIONS_WITH_MESSAGES, {"n": 97})

    def test_it_refuses_a_query_that_costs_more_with_a_message_that_says_what_to_do(self, owner):
        result = owner.execute(SUBMISSIONS_WITH_MESSAGES, {"n": 98})
        assert error_codes(result) == ["BAD_USER_INPUT"]
        assert "data" not in result
        assert result["errors"][0]["message"] == (
            "This operation costs 10,094; at most 10,000 is allowed. Each list field costs its `first` or `limit` "
            "(or their default) times what it selects: ask for fewer items, select less under lists, or split the "
            "operation into several requests."
        )

    def test_it_refuses_aliases_of_costly_lists(self, owner):
        # An owner's query that took 28 s of CPU before it was refused, cut down under the field limit.
        document = (
            "{ "
            + " ".join(
                f"a{n}: submissions(first: 200) {{ actions {{ canEdit }} "
                "validationSummary { animals { total } messages { recordNames } } }"
                for n in range(12)
            )
            + " }"
        )
        result = owner.execute(document)
        assert error_codes(result) == ["BAD_USER_INPUT"]
        assert result["errors"][0]["message"].startswith("This operation costs 249,600;")

    def test_a_refused_mutation_changes_nothing(self, owner):
        document = (
            "mutation { "
            + " ".join(
                f'm{n}: createSubmission(input: {{title: "t"}}) {{ validationSummary {{ {GROUPS} }} }}'
                for n in range(10)
            )
            + " }"
        )
        result = owner.execute(document)
        assert error_codes(result) == ["BAD_USER_INPUT"]
        assert not Submission.objects.exists()

    @pytest.mark.parametrize(
        "document",
        [
            # The submission page's subscription (submissions/static/submissions/submission-page.js)
            """subscription ($id: ID!) { submissionStatus(submissionId: $id) {
                version status statusDisplay message
                actions { canEdit canValidate canSubmit canDelete }
                validationSummary { animals { total unknown issues } samples { total unknown issues }
                  messages { kind message offendingColumn count recordNames } }
                progress { phase done total } } }""",
            STATUS,
            get_introspection_query(descriptions=True, specified_by_url=True, directive_is_repeatable=True),
            "{ submissions { id title owner status statusDisplay message version createdAt updatedAt "
            "actions { canEdit canValidate canSubmit canDelete } "
            "validationSummary { animals { total issues } samples { total issues } } } }",
        ],
        ids=["submission page", "tests' subscription", "GraphiQL's introspection", "a page of submissions"],
    )
    def test_the_apps_own_documents_are_well_under_every_limit(self, document):
        parsed = parse(document, **LIMITS.parse_options)
        assert shape_errors(parsed, LIMITS) == []
        assert cost_of(document, {"id": "1"}) <= LIMITS.max_cost / 25


class TestEveryTransport:
    def test_over_get(self, owner):
        response = Client().get("/graphql/", {"query": exponential_fragments(30)}, headers=owner.headers)
        assert error_codes(response.json()) == ["BAD_USER_INPUT"]

    @pytest.mark.django_db(transaction=True)
    @pytest.mark.parametrize("protocol", PROTOCOLS)
    async def test_over_websocket_the_operation_fails_and_the_connection_stays(
        self, connect, owner, submission, protocol
    ):
        socket = await connect(protocol, bearer(owner))
        groups = " ".join(f"m{n}: messages(limit: 1000) {{ count }}" for n in range(10))
        costly = (
            f"subscription ($id: ID!) {{ submissionStatus(submissionId: $id) {{ validationSummary {{ {groups} }} }} }}"
        )
        await socket.subscribe("costly", {"id": str(submission.pk)}, query=costly)
        message = await socket.receive()
        assert message["type"] == "error" and message["id"] == "costly"
        error = message["payload"] if socket.legacy else message["payload"][0]
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert error["message"].startswith("This operation costs 10,002; at most 10,000 is allowed.")

        await socket.subscribe("fine", {"id": str(submission.pk)})
        assert (await socket.next_event("fine"))["version"] == 1

    @pytest.mark.django_db(transaction=True)
    @pytest.mark.parametrize("protocol", PROTOCOLS)
    async def test_over_websocket_a_document_too_long_to_read_fails_the_same_way(
        self, connect, owner, submission, protocol
    ):
        socket = await connect(protocol, bearer(owner))
        await socket.subscribe("long", {"id": str(submission.pk)}, query=STATUS + "#" + "x" * 20_000)
        message = await socket.receive()
        assert message["type"] == "error" and message["id"] == "long"
        error = message["payload"] if socket.legacy else message["payload"][0]
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert "more than 20000 code points" in error["message"]

        await socket.subscribe("fine", {"id": str(submission.pk)})
        assert (await socket.next_event("fine"))["version"] == 1


def test_a_fragment_cycle_is_reported_by_validation(owner):
    result = owner.execute("{ ...A } fragment A on Query { ...B } fragment B on Query { viewer { username } ...A }")
    assert error_codes(result) == ["BAD_USER_INPUT"]
    assert result["errors"][0]["message"] == "Cannot spread fragment 'A' within itself via 'B'."
