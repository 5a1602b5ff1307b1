from live.budgets import Budget


def test_a_burst_is_allowed_and_no_more():
    budget = Budget(burst=1000, per_second=0)
    assert budget.take(600)
    assert budget.take(400)
    assert not budget.take(1)


def test_what_is_refused_is_not_spent():
    budget = Budget(burst=1000, per_second=0)
    assert not budget.take(1001)
    assert budget.take(1000)


def test_it_refills_at_its_rate():
    budget = Budget(burst=1000, per_second=1e9)
    assert budget.take(1000)
    assert budget.take(1000), "spending at the rate is never refused"
