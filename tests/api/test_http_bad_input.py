"""Hostile and malformed input over HTTP: a clean 4xx or a GraphQL error with `extensions.code`, and nothing changed.

Bad input gets a clear GraphQL error with its code (the README, "Who may do
what") and changes nothing; no stack trace reaches a client.
"""

import json
import logging

import pytest
from django.test import Client

from submissions import services
from submissions.models import Record, Status, Submission
from tests.conftest import error_codes

GRAPHQL_RESPONSE = "application/graphql-response+json"
CREATE = 'mutation { createSubmission(input: {title: "x"}) { id } }'
SUBSCRIBE = 'subscription { submissionStatus(submissionId: "1") { version } }'
ADD_RECORDS = "mutation ($input: AddRecordsInput!) { addRecords(input: $input) }"


def post(body: bytes | str, *, content_type="application/json", headers=None, **kwargs):
    # raise_request_exception=False: a bug must show as the 500 a client gets, not as a test error.
    client = Client(raise_request_exception=False, **kwargs)
    return client.post("/graphql/", body, content_type=content_type, headers=headers or {})


def assert_request_error(response, status, code="BAD_USER_INPUT", *, media_type="application/json") -> str:
    """The response refuses the request with `status`, as a GraphQL response with one coded error; its message."""
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith(media_type)
    body = response.json()
    assert "data" not in body
    assert error_codes(body) == [code]
    return body["errors"][0]["message"]


@pytest.fixture
def no_error_logged(caplog):
    """Bad input is the caller's business: nothing at ERROR (a traceback) reaches the log."""
    with caplog.at_level(logging.ERROR):
        yield
    assert [record for record in caplog.records if record.levelno >= logging.ERROR] == []


# The body


@pytest.mark.parametrize(
    "body",
    [b'"{ viewer { username } }"', b"42", b"null", b"true"],
    ids=["string", "number", "null", "boolean"],
)
@pytest.mark.parametrize("accept", ["application/json", GRAPHQL_RESPONSE])
def test_a_body_that_is_json_but_not_an_object_is_bad_user_input(owner, no_error_logged, body, accept):
    response = post(body, headers={**owner.headers, "Accept": accept})
    message = assert_request_error(response, 400, media_type=accept)
    assert "must be a JSON object" in message


@pytest.mark.parametrize(
    "body, says",
    [
        (b'{"query": "{ viewer { username } }", "x": "\xff\xfe"}', "not valid UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"query": "{ viewer { username } }", "variables": {"n": ' + b"7" * 100_000 + b"}}", "too many digits"),
        (b'{"query": "{ viewer { username } }", "variables": {"n": NaN}}', "NaN is not a JSON number"),
        (b'{"query": ', "not valid JSON"),
    ],
    ids=["invalid-utf8", "deep-json", "huge-number", "nan", "truncated"],
)
def test_a_body_that_is_not_json_is_bad_user_input(owner, no_error_logged, body, says):
    assert says in assert_request_error(post(body, headers=owner.headers), 400)


@pytest.mark.parametrize(
    "fields, says",
    [
        ({"query": CREATE, "variables": []}, "`variables` must be an object"),
        ({"query": CREATE, "variables": "{}"}, "`variables` must be an object"),
        ({"query": CREATE, "operationName": 1}, "`operationName` must be a string"),
        ({"query": None}, "no GraphQL document"),
        ({"query": 42}, "`query` must be a string"),
        ({"query": ""}, "no GraphQL document"),
        ({}, "no GraphQL document"),
        ({"query": CREATE, "extensions": []}, "`extensions` must be an object"),
        ({"query": CREATE, "operationName": "Other"}, 'Unknown operation named "Other"'),
        ({"query": "fragment F on Query { viewer { username } }"}, "must hold one operation"),
    ],
    ids=[
        "variables-list",
        "variables-string",
        "operation-name-number",
        "query-null",
        "query-number",
        "query-empty",
        "no-query",
        "extensions-list",
        "unknown-operation",
        "no-operation",
    ],
)
@pytest.mark.parametrize("accept", ["application/json", GRAPHQL_RESPONSE])
def test_a_malformed_graphql_request_is_bad_user_input_and_changes_nothing(
    owner, no_error_logged, fields, says, accept
):
    response = post(json.dumps(fields), headers={**owner.headers, "Accept": accept})
    assert says in assert_request_error(response, 400, media_type=accept)
    assert not Submission.objects.exists()


def test_a_batch_is_refused_with_a_code_and_runs_nothing(owner, no_error_logged):
    response = post(json.dumps([{"query": CREATE}, {"query": CREATE}]), headers=owner.headers)
    assert "Batching" in assert_request_error(response, 400)
    assert not Submission.objects.exists()


def test_a_body_over_the_size_limit_is_413_with_a_code(owner, settings, no_error_logged):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = json.dumps({"query": CREATE, "variables": {"padding": "x" * 2000}})
    assert "larger than 1000 bytes" in assert_request_error(post(body, headers=owner.headers), 413)
    assert not Submission.objects.exists()


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"])
def test_a_body_that_is_not_json_by_content_type_is_415_with_a_code(owner, no_error_logged, content_type):
    response = Client().generic(
        "POST", "/graphql/", json.dumps({"query": CREATE}), content_type=content_type, headers=owner.headers
    )
    assert "Content-Type: application/json" in assert_request_error(response, 415)
    assert not Submission.objects.exists()


@pytest.mark.parametrize("method", ["put", "patch", "delete", "options"])
def test_other_methods_are_405_with_a_code_and_the_allowed_methods(owner, no_error_logged, method):
    response = getattr(Client(), method)(
        "/graphql/", json.dumps({"query": CREATE}), content_type="application/json", headers=owner.headers
    )
    assert_request_error(response, 405)
    assert response["Allow"] == "GET, POST"
    assert not Submission.objects.exists()


def test_a_mutation_over_get_is_405_with_a_code(owner, no_error_logged):
    response = Client().get("/graphql/", {"query": CREATE}, headers=owner.headers)
    assert_request_error(response, 405)
    assert not Submission.objects.exists()


# GET query strings


@pytest.mark.parametrize(
    "params, says",
    [
        ({"query": "{ viewer { username } }", "variables": "{bad"}, "`variables` is not valid JSON"),
        ({"query": "{ viewer { username } }", "variables": "[1]"}, "`variables` must be an object"),
        ({"query": "{ viewer { username } }", "variables": "[" * 100_000}, "`variables` is JSON nested too deeply"),
        ({"query": "{ viewer { username } }", "extensions": "1"}, "`extensions` must be an object"),
        ({"query": "{ viewer { username } }", "operationName": "Nope"}, 'Unknown operation named "Nope"'),
        ({"variables": "{}"}, "no GraphQL document"),
    ],
    ids=[
        "variables-not-json",
        "variables-list",
        "variables-deep",
        "extensions-number",
        "unknown-operation",
        "no-query",
    ],
)
def test_get_with_bad_query_string_parameters_is_bad_user_input(owner, no_error_logged, params, says):
    response = Client().get("/graphql/", params, headers={**owner.headers, "Accept": "application/json"})
    assert says in assert_request_error(response, 400)


# Subscriptions are not served as plain JSON


@pytest.mark.parametrize("method", ["post", "get"])
@pytest.mark.parametrize("accept", ["application/json", GRAPHQL_RESPONSE])
def test_a_subscription_over_json_http_is_not_acceptable_and_says_what_to_use(
    owner, submission, no_error_logged, method, accept
):
    query = SUBSCRIBE.replace('"1"', f'"{submission.pk}"')
    headers = {**owner.headers, "Accept": accept}
    if method == "post":
        response = post(json.dumps({"query": query}), headers=headers)
    else:
        response = Client().get("/graphql/", {"query": query}, headers=headers)
    message = assert_request_error(response, 406, media_type=accept)
    for what in ("multipart/mixed;subscriptionSpec=1.0", "text/event-stream", "WebSocket at /graphql/"):
        assert what in message


# Ids that cannot exist


HUGE_ID = "9" * 95


@pytest.mark.parametrize(
    "query",
    [
        f'{{ submission(id: "{HUGE_ID}") {{ id }} }}',
        f'{{ validationSummary(submissionId: "{HUGE_ID}") {{ submissionId }} }}',
        f'mutation {{ deleteSubmission(id: "{HUGE_ID}") }}',
        f'mutation {{ updateSubmissionStatus(input: {{id: "{HUGE_ID}", status: LOADED}}) {{ version }} }}',
        f'mutation {{ addRecords(input: {{submissionId: "{HUGE_ID}", records: [{{kind: ANIMAL, name: "a"}}]}}) }}',
        f'mutation {{ reportProgress(input: {{submissionId: "{HUGE_ID}", phase: "p", done: 0, total: 1}}) {{ at }} }}',
    ],
    ids=["submission", "validationSummary", "deleteSubmission", "updateSubmissionStatus", "addRecords", "progress"],
)
def test_an_id_of_ninety_five_digits_is_not_found(service, no_error_logged, query):
    result = service.execute(query)
    assert error_codes(result) == ["NOT_FOUND"]
    assert HUGE_ID not in result["errors"][0]["message"]  # not echoed whole
    assert not Record.objects.exists()


ARABIC_INDIC_DIGITS = str.maketrans("0123456789", "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669")


@pytest.mark.parametrize(
    "spell",
    [
        lambda pk: f"+{pk}",
        lambda pk: f" {pk}",
        lambda pk: f"{pk}_0",
        lambda pk: f"-{pk}",
        lambda pk: f"{pk}.0",
        lambda pk: "0",
        lambda pk: str(pk).translate(ARABIC_INDIC_DIGITS),  # int() reads these as pk
    ],
    ids=["plus", "space", "underscore", "negative", "decimal", "zero", "arabic-indic-digits"],
)
def test_ids_other_than_the_ones_the_api_gives_are_not_found(owner, submission, no_error_logged, spell):
    result = owner.execute("query ($id: ID!) { submission(id: $id) { id } }", {"id": spell(submission.pk)})
    assert error_codes(result) == ["NOT_FOUND"]


# Strings the database cannot store


@pytest.mark.parametrize(
    "query, variables",
    [
        ("mutation ($t: String!) { createSubmission(input: {title: $t}) { id } }", {"t": "Herd\u0000"}),
        ('mutation { createSubmission(input: {title: "Herd\\u0000"}) { id } }', {}),
        (
            'mutation ($d: String!) { createSubmission(input: {title: "Herd", description: $d}) { id } }',
            {"d": "\u0000"},
        ),
    ],
    ids=["title-variable", "title-literal", "description"],
)
def test_a_nul_character_in_a_title_is_bad_user_input_and_creates_nothing(owner, no_error_logged, query, variables):
    result = owner.execute(query, variables)
    assert error_codes(result) == ["BAD_USER_INPUT"]
    assert "NUL" in result["errors"][0]["message"]
    assert not Submission.objects.exists()


@pytest.mark.parametrize(
    "record",
    [
        {"kind": "ANIMAL", "name": "cow\u0000"},
        {"kind": "ANIMAL", "name": "cow", "attributes": {"breed": "Jersey\u0000"}},
        {"kind": "ANIMAL", "name": "cow", "attributes": {"\u0000": 1}},
    ],
    ids=["name", "attribute-value", "attribute-key"],
)
def test_a_nul_character_in_a_record_is_bad_user_input_and_adds_nothing(service, submission, no_error_logged, record):
    records = [{"kind": "ANIMAL", "name": "calf"}, record]
    result = service.execute(ADD_RECORDS, {"input": {"submissionId": str(submission.pk), "records": records}})
    assert error_codes(result) == ["BAD_USER_INPUT"]
    assert not Record.objects.exists()
    submission.refresh_from_db()
    assert submission.version == 1


def test_a_nul_character_in_a_status_message_is_bad_user_input_and_changes_nothing(
    service, submission, no_error_logged
):
    result = service.execute(
        "mutation ($input: UpdateSubmissionStatusInput!) { updateSubmissionStatus(input: $input) { version } }",
        {"input": {"id": str(submission.pk), "status": "LOADED", "message": "Loaded\u0000"}},
    )
    assert error_codes(result) == ["BAD_USER_INPUT"]
    submission.refresh_from_db()
    assert (submission.status, submission.message, submission.version) == (Status.WAITING, "", 1)


# Credentials


def session_client(user) -> Client:
    client = Client(enforce_csrf_checks=True, raise_request_exception=False)
    client.force_login(user)
    return client


def test_a_session_post_with_an_empty_authorization_header_still_needs_the_csrf_token(owner, no_error_logged):
    response = session_client(owner.user).post(
        "/graphql/", json.dumps({"query": CREATE}), content_type="application/json", headers={"Authorization": ""}
    )
    assert "CSRF" in assert_request_error(response, 403, "FORBIDDEN")
    assert not Submission.objects.exists()


def test_a_session_post_without_the_csrf_token_is_forbidden_with_a_code(owner, no_error_logged):
    response = session_client(owner.user).post(
        "/graphql/", json.dumps({"query": CREATE}), content_type="application/json"
    )
    assert "X-CSRFToken" in assert_request_error(response, 403, "FORBIDDEN")
    assert not Submission.objects.exists()


@pytest.mark.parametrize("authorization", ["Bearer not-a-token", "Basic b2xpdmlhOnNlY3JldA==", "Bearer "])
def test_viewer_with_a_bad_token_is_unauthenticated_not_anonymous(db, no_error_logged, authorization):
    response = post(json.dumps({"query": "{ viewer { username } }"}), headers={"Authorization": authorization})
    result = response.json()
    assert result["data"] == {"viewer": None}
    assert error_codes(result) == ["UNAUTHENTICATED"]
    assert result["errors"][0]["message"]


def test_viewer_with_a_bad_token_is_unauthenticated_even_with_a_valid_session(owner, no_error_logged):
    client = session_client(owner.user)
    response = client.get(
        "/graphql/", {"query": "{ viewer { username } }"}, headers={"Authorization": "Bearer not-a-token"}
    )
    assert error_codes(response.json()) == ["UNAUTHENTICATED"]


# Arguments


@pytest.mark.parametrize(
    "arguments",
    ["first: 99999999999999999999", "offset: 99999999999999999999", "first: -1", "offset: -1", "first: 1.5"],
)
def test_out_of_range_paging_arguments_are_bad_user_input(owner, no_error_logged, arguments):
    assert error_codes(owner.execute(f"{{ submissions({arguments}) {{ id }} }}")) == ["BAD_USER_INPUT"]


def test_the_largest_offset_is_an_empty_page_not_an_error(owner, submission, no_error_logged):
    result = owner.execute("{ submissions(offset: 2147483647, first: 200) { id } }")
    assert result == {"data": {"submissions": []}}


def test_a_progress_report_with_the_largest_counts_is_accepted(service, submission, no_error_logged):
    services.set_status(submission, Status.LOADED)
    result = service.execute(
        "mutation ($input: ReportProgressInput!) { reportProgress(input: $input) { progress { done total } } }",
        {"input": {"submissionId": str(submission.pk), "phase": "import", "done": 2147483647, "total": 2147483647}},
    )
    assert result["data"]["reportProgress"]["progress"] == {"done": 2147483647, "total": 2147483647}
