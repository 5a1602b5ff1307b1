from api.address_limits import ConnectionAttempts


def test_an_address_past_its_limit_is_refused_and_others_are_not():
    attempts = ConnectionAttempts()
    assert [attempts.allow("10.0.0.1", limit=2, window_seconds=60) for _ in range(3)] == [True, True, False]
    assert attempts.allow("10.0.0.2", limit=2, window_seconds=60)


def test_a_new_window_starts_afresh():
    attempts = ConnectionAttempts()
    assert attempts.allow("10.0.0.1", limit=1, window_seconds=0)
    assert attempts.allow("10.0.0.1", limit=1, window_seconds=0)


def test_clients_over_no_network_are_not_counted():
    attempts = ConnectionAttempts()
    assert all(attempts.allow(None, limit=0, window_seconds=60) for _ in range(3))
