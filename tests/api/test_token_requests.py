"""GraphQL POSTs with a token skip Django's middleware, and are answered as Django's path answers them."""

import json

import pytest
from asgiref.testing import ApplicationCommunicator
from django.conf import settings

from api.asgi import application, django_application
from submissions.models import Status, Submission
from tests.conftest import GroupProbe, error_codes

VIEWER = '{"query": "{ viewer { username isService } }"}'
UPDATE_STATUS = """mutation ($input: UpdateSubmissionStatusInput!) {
  updateSubmissionStatus(input: $input) { version status message actions { canEdit canValidate } }
}"""


async def post(app, body: bytes | str, *, token=None, host=b"testserver", accept=b"application/json", **headers):
    """One POST to /graphql/ through an ASGI application: (status, headers, JSON body)."""
    body = body.encode() if isinstance(body, str) else body
    scope_headers = [(b"host", host), (b"content-type", b"application/json"), (b"accept", accept)]
    if token is not None:
        scope_headers.append((b"authorization", f"Bearer {token}".encode()))
    scope_headers += [(name.replace("_", "-").encode(), value) for name, value in headers.items()]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/graphql/",
        "raw_path": b"/graphql/",
        "root_path": "",
        "query_string": b"",
        "headers": scope_headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    communicator = ApplicationCommunicator(app, scope)
    await communicator.send_input({"type": "http.request", "body": body, "more_body": False})
    start = await communicator.receive_output(10)
    content = b""
    while True:
        message = await communicator.receive_output(10)
        content += message.get("body", b"")
        if not message.get("more_body"):
            break
    await communicator.wait(10)
    return start["status"], {name.decode().lower(): value.decode() for name, value in start["headers"]}, content


@pytest.fixture
def token(service):
    return service.token


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "body, accept",
    [
        (VIEWER, b"application/json"),
        (VIEWER, b"application/graphql-response+json"),
        ('{"query": "{ submission(id: \\"999\\") { id } }"}', b"application/json"),
        ('{"query": "{ nothing }"}', b"application/graphql-response+json"),
        ('{"query": "{ viewer { username } ', b"application/json"),
        ("not json", b"application/json"),
        ('{"query": 42}', b"application/json"),
        ('[{"query": "{ viewer { username } }"}]', b"application/json"),
        ('{"query": "mutation { createSubmission(input: {title: \\"\\"}) { id } }"}', b"application/json"),
        ('{"query": "{ nothing }"}', b"application/json"),
        ('{"query": "query ($id: ID!) { submission(id: $id) { id } }", "variables": {"id": [1]}}', b"application/json"),
        ('{"query": "query A { viewer { username } } query B { __typename }", "operationName": "B"}', b"*/*"),
        ('{"query": "query A { viewer { username } } query B { __typename }"}', b"application/json"),
        ('{"query": "subscription { submissionStatus(submissionId: \\"1\\") { version } }"}', b"application/json"),
        ('{"query": "{ viewer { username } }", "variables": {"x": NaN}}', b"application/json"),
        ('{"query": "{ viewer { username } }", "operationName": 3}', b"application/json"),
        (VIEWER.encode("utf-16"), b"application/json"),
        ('{"query": "{ viewer { username } }", "variables": {"x": ' + "[" * 100_000 + "]" * 100_000 + "}}", b"*/*"),
    ],
    ids=[
        "query",
        "graphql-response",
        "not-found",
        "invalid",
        "syntax",
        "not-json",
        "no-document",
        "batch",
        "bad-input",
        "invalid-json-response",
        "bad-variables",
        "named-operation",
        "two-operations",
        "subscription",
        "nan",
        "bad-operation-name",
        "utf-16",
        "deep",
    ],
)
async def test_a_token_request_is_answered_as_djangos_path_answers_it(token, body, accept):
    fast = await post(application, body, token=token, accept=accept)
    through_django = await post(django_application, body, token=token, accept=accept)

    assert fast[0] == through_django[0]
    assert json.loads(fast[2]) == json.loads(through_django[2])
    assert fast[1] == through_django[1]


@pytest.mark.django_db(transaction=True)
async def test_an_invalid_token_is_refused_as_djangos_path_refuses_it():
    fast = await post(application, VIEWER, token="not-a-token")
    through_django = await post(django_application, VIEWER, token="not-a-token")

    assert (fast[0], json.loads(fast[2])) == (through_django[0], json.loads(through_django[2]))
    assert error_codes(json.loads(fast[2])) == ["UNAUTHENTICATED"]


@pytest.mark.django_db(transaction=True)
async def test_a_service_mutation_with_a_token_changes_the_submission(token, owner):
    submission = await Submission.objects.acreate(owner=owner.user, title="Sheep")
    variables = {"input": {"id": str(submission.pk), "status": "LOADED", "message": "Imported"}}

    status, headers, content = await post(
        application, json.dumps({"query": UPDATE_STATUS, "variables": variables}), token=token
    )

    assert status == 200
    assert json.loads(content)["data"]["updateSubmissionStatus"] == {
        "version": 2,
        "status": "LOADED",
        "message": "Imported",
        "actions": {"canEdit": False, "canValidate": True},
    }
    stored = await Submission.objects.aget(pk=submission.pk)
    assert (stored.status, stored.message, stored.version) == (Status.LOADED, "Imported", 2)


@pytest.mark.django_db(transaction=True)
async def test_a_refused_change_with_a_token_is_a_graphql_error_and_changes_nothing(token, owner):
    submission = await Submission.objects.acreate(owner=owner.user, title="Sheep")
    variables = {"input": {"id": str(submission.pk), "status": "COMPLETED"}}

    status, _, content = await post(
        application, json.dumps({"query": UPDATE_STATUS, "variables": variables}), token=token
    )

    assert status == 200
    assert error_codes(json.loads(content)) == ["INVALID_TRANSITION"]
    assert (await Submission.objects.aget(pk=submission.pk)).version == 1


@pytest.mark.django_db(transaction=True)
async def test_a_token_request_for_a_host_not_allowed_is_refused(token):
    status, headers, content = await post(application, VIEWER, token=token, host=b"attacker.example")

    assert status == 400
    assert headers["content-type"].startswith("application/json")
    assert error_codes(json.loads(content)) == ["BAD_USER_INPUT"]


@pytest.mark.django_db(transaction=True)
async def test_a_token_request_larger_than_the_upload_limit_is_refused_unread(token):
    body = json.dumps({"query": "{ viewer { username } }", "pad": "x" * settings.DATA_UPLOAD_MAX_MEMORY_SIZE})

    status, _, content = await post(application, body, token=token)

    assert status == 413
    assert "larger than" in json.loads(content)["errors"][0]["message"]


@pytest.mark.django_db(transaction=True)
async def test_a_token_request_gets_the_security_headers_of_djangos_path(token):
    _, headers, _ = await post(application, VIEWER, token=token)

    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "same-origin"


@pytest.mark.django_db(transaction=True)
async def test_a_change_made_with_a_token_is_published(token, owner):
    submission = await Submission.objects.acreate(owner=owner.user, title="Sheep")
    listener = await GroupProbe.join(submission.pk)
    variables = {"input": {"id": str(submission.pk), "status": "LOADED", "message": "Imported"}}

    await post(application, json.dumps({"query": UPDATE_STATUS, "variables": variables}), token=token)

    event = await listener.next()
    assert (event["version"], event["status"], event["message"]) == (2, "LOADED", "Imported")
    await listener.assert_nothing_published()
