"""WebSocket connection attempts per client address, counted over a fixed window.

A handshake costs the server far more than it costs a client to ask for one;
past the limit an address is refused before the handshake (HTTP 403) until
the window ends.
"""

import time


class ConnectionAttempts:
    def __init__(self):
        self._counts: dict[str, int] = {}
        self._window_started = time.monotonic()

    def allow(self, address: str | None, *, limit: int, window_seconds: float) -> bool:
        """Count one attempt from `address`; False if it is over `limit` in the current window."""
        if address is None:  # not a network client (an in-process test)
            return True
        now = time.monotonic()
        if now - self._window_started >= window_seconds:
            self._counts.clear()  # also forgets every address seen: memory stays bounded
            self._window_started = now
        count = self._counts.get(address, 0) + 1
        self._counts[address] = count
        return count <= limit


connection_attempts = ConnectionAttempts()
