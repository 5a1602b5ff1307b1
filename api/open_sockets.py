"""Who holds open WebSockets: counted per credential, and checked again while they stay open.

HTTP looks a token up again once its cache entry is a minute old; a socket
opened with it would otherwise keep what it was granted for as long as it
stays open. So every `recheck_seconds` the process re-reads, in one thread
hop and a few queries, each distinct credential that holds a socket: a token
deleted, a user deactivated or logged out, or a service that lost its flag
has its sockets closed with 4403.
"""

import asyncio
import contextvars
import logging
import weakref
from collections import defaultdict
from dataclasses import dataclass
from typing import Protocol

from channels.db import database_sync_to_async
from django.conf import settings

from api.auth import Viewer, bearer_token, hash_token, session_user
from api.models import ApiToken

logger = logging.getLogger(__name__)

REVOKED_CLOSE_CODE = 4403
REVOKED_REASON = "Access revoked: connect again with valid credentials"


@dataclass(frozen=True)
class Credential:
    """What a socket was authenticated with: an API token (by hash) or a session (by key)."""

    kind: str  # "token" or "session"
    key: str
    viewer: Viewer


def credential_of(authorization, session_key: str | None, viewer) -> Credential | None:
    """What a socket or stream was authenticated with: a token, a session, or nothing to count."""
    token = bearer_token(authorization) if isinstance(authorization, str) else None
    if token is not None:
        return Credential(kind="token", key=hash_token(token), viewer=viewer)
    return Credential(kind="session", key=session_key, viewer=viewer) if session_key else None


class Revocable(Protocol):
    async def revoke(self) -> None: ...


def _still_valid_tokens(credentials: list[Credential]) -> set[Credential]:
    rows = ApiToken.objects.filter(key_hash__in=[credential.key for credential in credentials]).values_list(
        "key_hash", "is_service", "user__is_active", "user__is_staff"
    )
    rights = {key_hash: (active, is_service or is_staff) for key_hash, is_service, active, is_staff in rows}
    return {
        credential
        for credential in credentials
        if (right := rights.get(credential.key)) is not None
        and right[0]
        and (right[1] or not credential.viewer.is_service)
    }


def _still_valid_session(credential: Credential) -> bool:
    user = session_user(credential.key)
    return (
        user is not None
        and user.pk == credential.viewer.user.pk
        and (user.is_staff or not credential.viewer.is_service)
    )


def revoked(credentials: list[Credential]) -> list[Credential]:
    """Those of `credentials` that no longer grant what they granted when their socket opened."""
    tokens = [credential for credential in credentials if credential.kind == "token"]
    valid = _still_valid_tokens(tokens) if tokens else set()
    return [
        credential
        for credential in credentials
        if not (credential in valid if credential.kind == "token" else _still_valid_session(credential))
    ]


class OpenSockets:
    """The open sockets of one event loop, by credential."""

    def __init__(self):
        self._sockets: dict[Credential, set[Revocable]] = defaultdict(set)
        self._checking: asyncio.Task | None = None

    def add(self, credential: Credential, socket: Revocable) -> bool:
        """Count `socket` under `credential`; False (and not counted) if that credential holds its maximum."""
        sockets = self._sockets[credential]
        if len(sockets) >= settings.WEBSOCKET_MAX_CONNECTIONS_PER_CREDENTIAL:
            if not sockets:
                del self._sockets[credential]
            return False
        sockets.add(socket)
        if self._checking is None or self._checking.done():
            self._checking = asyncio.get_running_loop().create_task(
                self._check_periodically(), name="open-socket-access-check", context=contextvars.Context()
            )
        return True

    def discard(self, credential: Credential, socket: Revocable) -> None:
        sockets = self._sockets.get(credential)
        if sockets is not None:
            sockets.discard(socket)
            if not sockets:
                del self._sockets[credential]

    async def _check_periodically(self) -> None:
        while self._sockets:
            await asyncio.sleep(settings.WEBSOCKET_ACCESS_RECHECK_SECONDS)
            try:
                await self.check_now()
            except Exception:  # a database outage must not stop later checks
                logger.warning("Checking the credentials of open WebSockets failed", exc_info=True)

    async def check_now(self) -> None:
        """Close the sockets whose credentials no longer hold."""
        credentials = list(self._sockets)
        if not credentials:
            return
        for credential in await database_sync_to_async(revoked)(credentials):
            for socket in list(self._sockets.pop(credential, ())):
                await socket.revoke()


_open_sockets: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, OpenSockets]" = weakref.WeakKeyDictionary()


def open_sockets() -> OpenSockets:
    """The registry of the running event loop (one per process in a server)."""
    loop = asyncio.get_running_loop()
    if loop not in _open_sockets:
        _open_sockets[loop] = OpenSockets()
    return _open_sockets[loop]
