"""A real server refuses documents built to stall it at once, and answers everyone else meanwhile."""

import asyncio
import json
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from api.servers import SERVERS


def exponential_fragments(fragments: int) -> str:
    """~1 KB: each fragment spreads the next twice, so a walk that expands spreads takes 2^n steps."""
    chain = [f"fragment F{n} on Query {{ ...F{n + 1} ...F{n + 1} }}" for n in range(fragments - 1)]
    return " ".join(["query { ...F0 }", *chain, f"fragment F{fragments - 1} on Query {{ viewer {{ username }} }}"])


# Refused for their fragment spreads, and (the last, under that limit) for their cost.
HOSTILE = [exponential_fragments(30), exponential_fragments(40), exponential_fragments(24)]


def graphql(url: str, query: str, *, method: str, token: str) -> tuple[dict, float]:
    """The response to `query` sent with GET or POST, and how long it took."""
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    if method == "GET":
        request = urllib.request.Request(f"{url}?{urllib.parse.urlencode({'query': query})}", headers=headers)
    else:
        body = json.dumps({"query": query}).encode()
        request = urllib.request.Request(url, data=body, headers={**headers, "Content-Type": "application/json"})
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            body = response.read()
    except urllib.error.HTTPError as error:  # 4xx still carries the GraphQL errors
        body = error.read()
    return json.loads(body), time.perf_counter() - started


def healthz(port: int) -> float:
    started = time.perf_counter()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=60) as response:
        assert response.read() == b"ok\n"
    return time.perf_counter() - started


@pytest.mark.parametrize("server_name", SERVERS)
async def test_exponential_fragments_are_refused_at_once_while_healthz_answers(project, server_name):
    server = project.start_server(server=server_name)
    token = project.manage("create_api_token", "olivia", "--create-user").strip()
    await asyncio.to_thread(healthz, server.port)  # warm

    hostile = [
        asyncio.create_task(asyncio.to_thread(graphql, server.http_url, query, method=method, token=token))
        for query in HOSTILE
        for method in ("GET", "POST")
    ]
    health_seconds = []
    while not all(task.done() for task in hostile) or not health_seconds:
        health_seconds.append(await asyncio.to_thread(healthz, server.port))
    answers = await asyncio.gather(*hostile)

    for result, seconds in answers:
        assert [error["extensions"]["code"] for error in result["errors"]] == ["BAD_USER_INPUT"]
        assert "data" not in result
        assert seconds < 1.0  # Strawberry's limiters kept the process busy for minutes
    assert max(health_seconds) < 1.0
