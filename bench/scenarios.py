"""The scenarios of the benchmark (the README, "Performance")."""

from dataclasses import dataclass

# Long enough to outlast channels-redis' 5 s blocking pop: idle subscriptions
# over Redis once died when a socket timeout matched it.
IDLE_SECONDS = 10.0
DEFAULT_IDLE_CONNECTIONS = 2_000  # the target is 10,000: ask for it with --connections 10000


@dataclass(frozen=True)
class Scenario:
    name: str
    connections: int
    subscriptions_per_connection: int
    submissions: int
    events: int
    idle_s: float = 0.0  # connections stay idle this long before memory is read and changes start


def spec_scenarios(idle_connections: int = DEFAULT_IDLE_CONNECTIONS) -> list[Scenario]:
    """(a) fan-out to 1,000 subscribers, (b) 200 x 5 over 50 submissions, (c) idle connections."""
    return [
        Scenario("a-fanout", connections=1000, subscriptions_per_connection=1, submissions=1, events=50),
        Scenario("b-many", connections=200, subscriptions_per_connection=5, submissions=50, events=500),
        idle_scenario(idle_connections),
    ]


def idle_scenario(connections: int, submissions: int = 1, events: int = 1) -> Scenario:
    """Subscribed connections left idle; then `events` changes show whether they are still alive."""
    return Scenario(
        "c-idle",
        connections=connections,
        subscriptions_per_connection=1,
        submissions=submissions,
        events=events,
        idle_s=IDLE_SECONDS,
    )
