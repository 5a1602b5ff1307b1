"""A budget that refills at a steady rate (a token bucket): bursts allowed, floods refused."""

import time


class Budget:
    __slots__ = ("_at", "_spent", "burst", "per_second")  # two per connection

    def __init__(self, *, burst: float, per_second: float):
        self.burst = burst
        self.per_second = per_second
        self._spent = 0.0
        self._at = time.monotonic()

    def take(self, amount: float) -> bool:
        """Spend `amount`; False (and nothing spent) if that would go past the burst."""
        now = time.monotonic()
        self._spent = max(0.0, self._spent - (now - self._at) * self.per_second)
        self._at = now
        if self._spent + amount > self.burst:
            return False
        self._spent += amount
        return True
