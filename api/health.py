"""Health endpoints for load balancers: /healthz (alive) and /readyz (can serve).

They are answered by HealthChecksMiddleware, first of all: container health
checks and load balancers call a process by its address (`Host:
127.0.0.1:8000`), which ALLOWED_HOSTS, set to the site's name, would refuse
with 400 as soon as a later middleware reads the host.
"""

import asyncio

from asgiref.sync import markcoroutinefunction, sync_to_async
from channels.layers import get_channel_layer
from django.db import connection
from django.http import HttpResponse, JsonResponse

from api import shutdown

CHECK_TIMEOUT_SECONDS = 2.0


async def healthz(request):
    return HttpResponse("ok\n", content_type="text/plain")


def _database_answers() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


async def _channel_layer_round_trip() -> None:
    layer = get_channel_layer()
    channel = await layer.new_channel(prefix="readyz")
    await layer.send(channel, {"type": "readyz.ping"})
    await layer.receive(channel)


async def readyz(request):
    """200 when a database query and a channel-layer round trip both succeed in time, else 503."""
    if shutdown.shutting_down:
        return JsonResponse({"ready": False, "failed": {"process": "shutting down"}}, status=503)
    checks = {"database": sync_to_async(_database_answers)(), "channel_layer": _channel_layer_round_trip()}
    outcomes = await asyncio.gather(
        *(asyncio.wait_for(check, CHECK_TIMEOUT_SECONDS) for check in checks.values()), return_exceptions=True
    )
    # Any failure means not ready; say which.
    failures = {name: type(outcome).__name__ for name, outcome in zip(checks, outcomes, strict=True) if outcome}
    if failures:
        return JsonResponse({"ready": False, "failed": failures}, status=503)
    return JsonResponse({"ready": True})


CHECKS = {"/healthz": healthz, "/readyz": readyz}


class HealthChecksMiddleware:
    """Answers /healthz and /readyz before any middleware validates the Host."""

    sync_capable = False
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        markcoroutinefunction(self)

    async def __call__(self, request):
        check = CHECKS.get(request.path_info)
        if check is None:
            return await self.get_response(request)
        return await check(request)
