"""The product serves none of the benchmark's endpoints (bench/asgi.py serves them, for the benchmark only)."""

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from channels.testing import WebsocketCommunicator
from django.urls import Resolver404, resolve

PROJECT_DIR = Path(__file__).resolve().parents[2]
# The baselines' paths (bench/baselines.py), which asked for no credentials, and some near misses.
BENCH_PATHS = ["/bench/naive/", "/bench/channels/", "/bench/raw/", "/bench/raw/broadcast/", "/bench/raw/broadcast"]
# Every switch the benchmark ever used, and debugging on.
BENCH_ENVIRONMENT = {"BENCH_ENDPOINTS": "1", "BENCH": "1", "DEBUG": "true"}


def http_routes(paths: list[str]) -> list[str]:
    """Those of `paths` that the product's URL configuration routes."""
    routed = []
    for path in paths:
        try:
            resolve(path)
        except Resolver404:
            continue
        routed.append(path)
    return routed


async def websocket_routes(paths: list[str]) -> list[str]:
    """Those of `paths` where the product's ASGI application accepts a WebSocket."""
    from api.asgi import application

    accepted = []
    for path in paths:
        communicator = WebsocketCommunicator(application, path + "?submission=1")
        try:
            connected, _subprotocol = await communicator.connect()
        except ValueError:  # Channels' URL router: "No route found for path"
            connected = False
        if connected:
            accepted.append(path)
            await communicator.disconnect()
    return accepted


def bench_modules() -> list[str]:
    return sorted(name for name in sys.modules if name == "bench" or name.startswith("bench."))


def report() -> None:
    """Run in a process of its own: what the product routes there, as JSON."""
    from api import asgi, urls  # noqa: F401  (as a server loads them)

    routes = {"http": http_routes(BENCH_PATHS), "websocket": asyncio.run(websocket_routes(BENCH_PATHS))}
    print(json.dumps({**routes, "modules": bench_modules()}))


def test_the_products_url_configuration_routes_no_bench_path():
    assert http_routes(BENCH_PATHS) == []
    # The check itself finds a route where there is one.
    assert http_routes(["/graphql/"]) == ["/graphql/"]


@pytest.mark.django_db(transaction=True)
async def test_the_products_websocket_routes_accept_no_socket_on_a_bench_path():
    assert await websocket_routes(BENCH_PATHS) == []


def test_no_environment_makes_the_product_serve_or_even_import_the_benchmark():
    result = subprocess.run(
        [sys.executable, "-c", "from tests.api.test_no_bench_endpoints import report; report()"],
        cwd=PROJECT_DIR,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "api.settings", **BENCH_ENVIRONMENT},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {"http": [], "websocket": [], "modules": []}
