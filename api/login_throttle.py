"""Login throttling with django-axes: the sign-in page and the admin's.

Axes counts failed `authenticate()` calls per (username, client address)
and refuses that pair for a while once it reaches LOGIN_FAILURE_LIMIT; a
successful sign-in clears the pair. Counting per username alone would let
anyone lock a person out from anywhere, so a second, higher limit counts
per address, over every username (password spraying); a success does not
clear it. API tokens never go through `authenticate()` and are not counted.
"""

import math
from datetime import timedelta

from axes.attempts import get_cool_off_threshold
from axes.backends import AxesStandaloneBackend
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_cool_off, get_failure_limit
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Max, Sum
from django.shortcuts import render
from django.utils import timezone


class LoginThrottleBackend(AxesStandaloneBackend):
    """Refuses a locked-out client before the password is checked (list it first in AUTHENTICATION_BACKENDS)."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            # authenticate() without a request comes from code, not a client
            # (a shell, the test client's login()): there is no one to count.
            return None
        return super().authenticate(request, username, password, **kwargs)


class LoginThrottleHandler(AxesDatabaseHandler):
    """Axes' database handler (shared by every process), plus the per-address limit."""

    def get_failures(self, request, credentials: dict | None = None) -> int:
        failures = super().get_failures(request, credentials)
        limit = get_failure_limit(request, credentials)
        per_address_limit = settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS
        if failures >= limit or not per_address_limit or not request.axes_ip_address:
            return failures
        attempts = AccessAttempt.objects.filter(ip_address=request.axes_ip_address)
        if settings.AXES_COOLOFF_TIME:
            attempts = attempts.filter(attempt_time__gte=get_cool_off_threshold(request))
        per_address = attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0
        # Axes compares one number with the failure limit: report "at the limit".
        return limit if per_address >= per_address_limit else failures


def _seconds_left(request, cool_off: timedelta) -> int:
    """Until the cool-off after the address's last counted failure ends: at most
    that long for whichever limit it reached (attempts while locked out do not count)."""
    last = AccessAttempt.objects.filter(ip_address=request.axes_ip_address).aggregate(last=Max("attempt_time"))["last"]
    if last is None:
        return math.ceil(cool_off.total_seconds())
    return max(1, math.ceil((last + cool_off - timezone.now()).total_seconds()))


def lockout_response(request, *args, **kwargs):
    """429 with a page saying when to try again (AXES_LOCKOUT_CALLABLE).

    Axes' async middleware passes (request, credentials) where its sync one
    passes (request, response, credentials); neither is needed here.
    """
    cool_off: timedelta | None = get_cool_off(request)
    seconds = _seconds_left(request, cool_off) if cool_off else None
    response = render(
        request,
        "registration/locked_out.html",
        {"minutes": math.ceil(seconds / 60) if seconds else None},
        status=settings.AXES_HTTP_RESPONSE_CODE,
    )
    if seconds:
        response["Retry-After"] = str(seconds)
    return response
