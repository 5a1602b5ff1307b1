"""Health for load balancers, metrics for operators."""

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient, Client

from api import shutdown
from submissions import services
from submissions.models import Status
from tests.api.websocket_client import GraphQLSocket, bearer

pytestmark = pytest.mark.django_db(transaction=True)


def metric(text: str, name: str) -> float:
    """A sample's value; a labelled counter not yet incremented is absent, and so zero."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_healthz_says_the_process_is_alive():
    response = Client().get("/healthz")
    assert response.status_code == 200


async def test_readyz_checks_the_database_and_a_channel_layer_round_trip():
    response = await AsyncClient().get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"ready": True}


async def test_readyz_is_503_while_the_process_drains_so_the_balancer_sends_no_one_new(monkeypatch):
    monkeypatch.setattr(shutdown, "shutting_down", True)  # as the first SIGTERM leaves it
    response = await AsyncClient().get("/readyz")
    assert response.status_code == 503
    assert response.json()["failed"] == {"process": "shutting down"}
    assert (await AsyncClient().get("/healthz")).status_code == 200, "alive all the same"


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
async def test_health_checks_are_answered_whatever_host_they_name(settings, path):
    # A container health check calls a process by its address, not by the site's name.
    settings.ALLOWED_HOSTS = ["status.example.org"]
    response = await AsyncClient().get(path, headers={"Host": "127.0.0.1:8000"})
    assert response.status_code == 200
    assert (await AsyncClient().get("/", headers={"Host": "127.0.0.1:8000"})).status_code == 400, "only them"


async def test_readyz_is_503_when_the_channel_layer_fails(settings):
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": ["redis://127.0.0.1:1/0"]}}
    }
    response = await AsyncClient().get("/readyz")
    assert response.status_code == 503
    assert response.json()["failed"] == {"channel_layer": "ConnectionError"}


def test_metrics_are_refused_to_other_networks_without_the_token(settings):
    settings.METRICS_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    settings.METRICS_TOKEN = "s3cret"
    assert Client().get("/metrics").status_code == 403
    assert Client().get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 403
    assert Client().get("/metrics", headers={"Authorization": "Bearer s3cret"}).status_code == 200


def test_metrics_answer_a_local_request_without_the_token():
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="::1").get("/metrics").status_code == 200


@pytest.mark.parametrize(
    "header",
    [
        {"X-Forwarded-For": "203.0.113.5"},
        {"X-Forwarded-For": "127.0.0.1"},
        {"Forwarded": "for=203.0.113.5"},
        {"X-Real-IP": "203.0.113.5"},
    ],
)
def test_metrics_refuse_a_proxied_request_without_the_token(settings, header):
    """Behind nginx on the same machine REMOTE_ADDR is loopback for every client."""
    settings.METRICS_TOKEN = "s3cret"
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics", headers=header).status_code == 403
    authorized = {**header, "Authorization": "Bearer s3cret"}
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics", headers=authorized).status_code == 200


def test_metrics_refuse_a_proxied_request_when_no_token_is_set(settings):
    settings.METRICS_TOKEN = ""
    proxied = {"X-Forwarded-For": "203.0.113.5", "Authorization": "Bearer "}
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics", headers=proxied).status_code == 403


async def test_metrics_count_what_a_real_client_did(owner, submission):
    before = (await AsyncClient().get("/metrics", REMOTE_ADDR="127.0.0.1")).content.decode()
    socket = GraphQLSocket("graphql-transport-ws")
    await socket.connect(bearer(owner))
    await socket.subscribe("1", {"id": str(submission.pk)})
    await socket.next_event("1")
    await sync_to_async(services.set_status)(submission, Status.LOADED, "counted")
    await socket.next_event("1")
    during = (await AsyncClient().get("/metrics", REMOTE_ADDR="127.0.0.1")).content.decode()
    await socket.disconnect()

    rejected = GraphQLSocket("graphql-transport-ws")
    await rejected.communicator.connect()
    await rejected.communicator.send_json_to({"type": "connection_init", "payload": {}})
    await rejected.close_code()
    after = (await AsyncClient().get("/metrics", REMOTE_ADDR="127.0.0.1")).content.decode()

    assert metric(during, "websocket_connections_open") == metric(before, "websocket_connections_open") + 1
    assert metric(during, "submission_subscriptions_active") == metric(before, "submission_subscriptions_active") + 1
    assert (
        metric(during, "submission_events_delivered_total") == metric(before, "submission_events_delivered_total") + 1
    )
    rejections = 'websocket_connections_rejected_total{reason="unauthenticated"}'
    assert metric(after, rejections) == metric(during, rejections) + 1
    assert metric(during, "submission_event_delivery_latency_seconds_count") >= 1
