"""The cast (an owner, another owner, a service) and how they call the API."""

import json

import pytest
from django.contrib.auth import get_user_model
from django.test import AsyncClient, Client

from api.auth import api_token_create
from submissions import services


@pytest.fixture(autouse=True)
def in_memory_channel_layer(settings):
    """Unit tests run in one process: the in-memory layer, fresh for every test."""
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 1000}}
    }


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
        response = Client().post("/graphql/", self._body(query, variables), content_type="application/json", headers=self.headers)
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
