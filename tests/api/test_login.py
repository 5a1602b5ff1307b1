"""Signing in: failed attempts are throttled per (username, address) and per address, answered 429.

Most requests go through AsyncClient, as the ASGI servers run the views, from
127.0.0.1 with an X-Forwarded-For as the shipped nginx sets it.
"""

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.test import AsyncClient, Client
from django.utils import timezone

from api.auth import api_token_create
from tests.conftest import Caller

pytestmark = pytest.mark.django_db(transaction=True)

LOGIN = "/accounts/login/"
ADMIN_LOGIN = "/admin/login/"
CLIENT = "198.51.100.7"
OTHER_CLIENT = "198.51.100.8"


@pytest.fixture
def person(db):
    return get_user_model().objects.create_user(username="olivia", password="right-password")


@pytest.fixture
def limits(settings):
    settings.AXES_FAILURE_LIMIT = 3
    settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS = 5
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)


async def sign_in(username, password, *, address=CLIENT, path=LOGIN, client=None):
    client = client or AsyncClient()
    return await client.post(path, {"username": username, "password": password}, headers={"X-Forwarded-For": address})


async def fail(times, username="olivia", *, address=CLIENT, path=LOGIN):
    for _ in range(times):
        response = await sign_in(username, "wrong-password", address=address, path=path)
        assert response.status_code == 200, "a wrong password below the limit shows the form again"


async def lock_out(username="olivia", *, address=CLIENT):
    await fail(2, username, address=address)
    assert_locked_out(await sign_in(username, "wrong-password", address=address))


def assert_locked_out(response):
    assert response.status_code == 429
    assert "Too many sign-in attempts" in response.content.decode()
    assert 14 * 60 < int(response["Retry-After"]) <= 15 * 60
    assert "Try again in 15 minutes." in response.content.decode()
    assert "Content-Security-Policy" in response


async def test_a_correct_password_signs_in(person, limits):
    response = await sign_in("olivia", "right-password")
    assert response.status_code == 302


async def test_failures_up_to_the_limit_per_username_and_address_are_answered_429(person, limits):
    await fail(2)
    assert_locked_out(await sign_in("olivia", "wrong-password"))
    assert_locked_out(await sign_in("olivia", "right-password")), "even the right password waits"


async def test_the_same_username_from_another_address_is_not_locked_out(person, limits):
    await lock_out()
    assert (await sign_in("olivia", "right-password", address=OTHER_CLIENT)).status_code == 302


async def test_many_usernames_from_one_address_lock_that_address_out(person, limits):
    for name in ("a", "b", "c", "d"):
        assert (await sign_in(name, "guess")).status_code == 200
    assert_locked_out(await sign_in("e", "guess"))
    assert_locked_out(await sign_in("olivia", "right-password"))
    assert (await sign_in("olivia", "right-password", address=OTHER_CLIENT)).status_code == 302


async def test_a_successful_sign_in_clears_the_failures_of_its_username_and_address(person, limits):
    await fail(2)
    assert (await sign_in("olivia", "right-password")).status_code == 302
    await fail(2)
    assert (await sign_in("olivia", "right-password")).status_code == 302


async def test_a_success_does_not_clear_the_failures_of_other_usernames_from_the_address(person, limits):
    for name in ("a", "b", "c", "d"):
        await sign_in(name, "guess")
    assert (await sign_in("olivia", "right-password")).status_code == 302
    assert_locked_out(await sign_in("e", "guess"))


async def test_the_lockout_ends_after_the_cool_off(person, limits):
    await lock_out()
    await sync_to_async(AccessAttempt.objects.update)(attempt_time=timezone.now() - timedelta(minutes=16))
    assert (await sign_in("olivia", "right-password")).status_code == 302


async def test_attempts_while_locked_out_do_not_extend_the_lockout(person, limits):
    await lock_out()
    locked_at = await sync_to_async(lambda: AccessAttempt.objects.get().attempt_time)()
    assert_locked_out(await sign_in("olivia", "wrong-password"))
    assert await sync_to_async(lambda: AccessAttempt.objects.get().attempt_time)() == locked_at


async def test_the_page_says_how_long_is_left(person, limits):
    await lock_out()
    await sync_to_async(AccessAttempt.objects.update)(attempt_time=timezone.now() - timedelta(minutes=10))
    response = await sign_in("olivia", "right-password")
    assert response.status_code == 429
    assert 4 * 60 < int(response["Retry-After"]) <= 5 * 60
    assert "Try again in 5 minutes." in response.content.decode()


async def test_the_admin_sign_in_is_throttled_too(person, limits):
    await fail(2, path=ADMIN_LOGIN)
    assert_locked_out(await sign_in("olivia", "wrong-password", path=ADMIN_LOGIN))


async def test_api_tokens_and_graphql_are_not_throttled(person, limits):
    caller = Caller(user=person, token=await sync_to_async(api_token_create)(user=person))
    for name in ("a", "b", "c", "d", "e"):
        await sign_in(name, "guess")
    assert_locked_out(await sign_in("olivia", "right-password"))
    response = await AsyncClient().post(
        "/graphql/",
        {"query": "{ viewer { username } }"},
        content_type="application/json",
        headers={"Authorization": f"Bearer {caller.token}", "X-Forwarded-For": CLIENT},
    )
    assert response.json() == {"data": {"viewer": {"username": "olivia"}}}


async def test_a_client_that_is_not_the_proxy_cannot_choose_its_address(person, limits):
    """X-Forwarded-For counts only from a trusted proxy: a client sending its own is counted by its address."""
    client = Client(REMOTE_ADDR="203.0.113.9")
    for forged in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):
        response = await sync_to_async(client.post)(
            LOGIN, {"username": "olivia", "password": "wrong"}, headers={"X-Forwarded-For": forged}
        )
    assert_locked_out(response)
    assert (await sign_in("olivia", "right-password", address="10.0.0.4")).status_code == 302


def test_the_sync_stack_throttles_too(person, limits):
    client = Client(REMOTE_ADDR="203.0.113.10")
    for _ in range(2):
        assert client.post(LOGIN, {"username": "olivia", "password": "wrong"}).status_code == 200
    assert_locked_out(client.post(LOGIN, {"username": "olivia", "password": "wrong"}))


def test_signing_in_from_code_without_a_request_is_not_counted(person, limits):
    """Client.login() and shells call authenticate() without a request: no client to count."""
    for _ in range(5):
        assert Client().login(username="olivia", password="wrong") is False
    assert Client().login(username="olivia", password="right-password") is True
    assert not AccessAttempt.objects.exists()
