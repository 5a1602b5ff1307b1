"""Who is asking: API tokens (Bearer) and Django sessions, resolved to a Viewer."""

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from importlib import import_module

from django.conf import settings
from django.contrib import auth
from django.contrib.auth.models import AbstractBaseUser

from api.models import ApiToken

BEARER_PREFIX = "bearer "


@dataclass(frozen=True)
class Viewer:
    """An authenticated caller. Services (service tokens, staff) see every submission."""

    user: AbstractBaseUser
    is_service: bool

    @property
    def username(self) -> str:
        return self.user.get_username()


class InvalidCredentials(Exception):
    """Credentials were presented but match no active user."""


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def api_token_create(*, user: AbstractBaseUser, is_service: bool = False) -> str:
    """Create a token for `user` and return it; it cannot be read back later."""
    token = secrets.token_urlsafe(32)
    ApiToken.objects.create(user=user, key_hash=hash_token(token), is_service=is_service)
    return token


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` value, or None if there is none."""
    if not authorization or not authorization.lower().startswith(BEARER_PREFIX):
        return None
    return authorization[len(BEARER_PREFIX) :].strip() or None


# Recently checked tokens, so that a thousand connections opened with one
# service token cost one query, not a thousand. A deleted token or a
# deactivated user is refused again after at most this long.
TOKEN_CACHE_SECONDS = 60.0
TOKEN_CACHE_SIZE = 10_000
_recent_viewers: dict[str, tuple[Viewer, float]] = {}
_recent_viewers_lock = threading.Lock()


def _recent_viewer(key_hash: str) -> Viewer | None:
    cached = _recent_viewers.get(key_hash)
    return cached[0] if cached is not None and cached[1] > time.monotonic() else None


def recent_viewer(*, authorization) -> Viewer | None:
    """The viewer of a Bearer token checked lately, without a query; None if it must be looked up."""
    token = bearer_token(authorization) if isinstance(authorization, str) else None
    return None if token is None else _recent_viewer(hash_token(token))


def viewer_for_token(token: str) -> Viewer:
    """The viewer a token stands for; raises InvalidCredentials for an unknown token."""
    key_hash = hash_token(token)
    if (viewer := _recent_viewer(key_hash)) is not None:
        return viewer
    api_token = ApiToken.objects.select_related("user").filter(key_hash=key_hash).first()
    if api_token is None or not api_token.user.is_active:
        raise InvalidCredentials("Invalid API token.")
    viewer = Viewer(user=api_token.user, is_service=api_token.is_service or api_token.user.is_staff)
    with _recent_viewers_lock:  # requests check tokens on several threads
        if len(_recent_viewers) >= TOKEN_CACHE_SIZE:
            _recent_viewers.pop(next(iter(_recent_viewers)), None)
        _recent_viewers[key_hash] = (viewer, time.monotonic() + TOKEN_CACHE_SECONDS)
    return viewer


def viewer_for_user(user) -> Viewer | None:
    """The viewer of a session user, or None when anonymous."""
    if user is None or not user.is_authenticated or not user.is_active:
        return None
    return Viewer(user=user, is_service=user.is_staff)


class _SessionRequest:
    """What django.contrib.auth.get_user reads: the session."""

    def __init__(self, session):
        self.session = session


def session_user(session_key: str | None):
    """The user a session (by its key) is signed in as, checked as Django checks every request; None if none.

    The session must still name the user, the password must not have changed
    since, and the user must still be allowed to log in (active).
    """
    if not session_key:
        return None
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key=session_key)
    user = auth.get_user(_SessionRequest(store))
    return user if user.is_authenticated else None


def resolve_viewer(*, authorization: str | None, session_user) -> Viewer | None:
    """A Bearer token wins over the session; a bad token is an error, not anonymity."""
    if authorization is not None and not isinstance(authorization, str):
        raise InvalidCredentials("The authorization must be the string 'Bearer <token>'.")
    if authorization:
        token = bearer_token(authorization)
        if token is None:
            raise InvalidCredentials("The Authorization header must be 'Bearer <token>'.")
        return viewer_for_token(token)
    return viewer_for_user(session_user)
