"""Service writes over HTTP as a pipeline sends them: many callers at once, every change delivered once, in order."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.e2e.client import GraphQLWebSocket

CREATE = 'mutation { createSubmission(input: {title: "Herd"}) { id } }'
UPDATE_STATUS = """
mutation ($input: UpdateSubmissionStatusInput!) { updateSubmissionStatus(input: $input) { version message } }
"""
REPORT_PROGRESS = """
mutation ($input: ReportProgressInput!) { reportProgress(input: $input) { version progress { done } } }
"""
CALLERS = 8
CHANGES = 64


def _change(server, token, pk, n: int) -> dict | None:
    """Change `n`: a status change, a progress report, or (every fifth) a refused transition; the result."""
    if n % 5 == 4:
        variables = {"input": {"id": pk, "status": "COMPLETED", "message": f"refused {n}"}}
        result = server.execute(UPDATE_STATUS, variables, token=token)
        assert [error["extensions"]["code"] for error in result["errors"]] == ["INVALID_TRANSITION"]
        return None
    if n % 2:
        variables = {"input": {"submissionId": pk, "phase": "validation", "done": n, "total": CHANGES}}
        result = server.execute(REPORT_PROGRESS, variables, token=token)["data"]["reportProgress"]
        return {"version": result["version"], "what": f"progress {result['progress']['done']}"}
    variables = {"input": {"id": pk, "status": "LOADED", "message": f"change {n}"}}
    result = server.execute(UPDATE_STATUS, variables, token=token)["data"]["updateSubmissionStatus"]
    return {"version": result["version"], "what": result["message"]}


def _what(event: dict) -> str:
    return f"progress {event['progress']['done']}" if event["progress"] else event["message"]


async def _assert_concurrent_writes_delivered_once_in_order(project) -> None:
    server = project.start_server(server="uvicorn")
    token = project.manage("create_api_token", "pipeline", "--create-user", "--service").strip()
    pk = server.execute(CREATE, token=token)["data"]["createSubmission"]["id"]
    client = GraphQLWebSocket(server.ws_url, "graphql-transport-ws")
    assert (await client.connect({"authorization": f"Bearer {token}"}))["type"] == "connection_ack"
    await client.subscribe("1", {"id": pk})
    assert (await client.next_event("1"))["version"] == 1
    try:
        with ThreadPoolExecutor(max_workers=CALLERS) as pool:
            made = [change for change in pool.map(lambda n: _change(server, token, pk, n), range(CHANGES)) if change]

        # The database gave each accepted change its own version; refused ones took none.
        assert sorted(change["version"] for change in made) == list(range(2, len(made) + 2))
        events = [await client.next_event("1") for _ in made]
        # Each delivered once, in version order, carrying what that change made.
        assert [event["version"] for event in events] == list(range(2, len(made) + 2))
        by_version = {change["version"]: change["what"] for change in made}
        assert [_what(event) for event in events] == [by_version[event["version"]] for event in events]
        # Nothing else was published: the next event is the next change's.
        last = _change(server, token, pk, 0)
        assert (await client.next_event("1"))["version"] == last["version"] == len(made) + 2
    finally:
        await client.close()


async def test_concurrent_service_writes_on_sqlite_are_each_delivered_once_in_version_order(project):
    await _assert_concurrent_writes_delivered_once_in_order(project)


@pytest.mark.parametrize("cluster", ["core"], indirect=True)
async def test_concurrent_service_writes_on_postgresql_and_redis_are_each_delivered_once_in_version_order(cluster):
    await _assert_concurrent_writes_delivered_once_in_order(cluster)
