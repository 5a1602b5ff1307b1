"""API tokens: a checked token is remembered for a while, and refused again once that while is over."""

import time

import pytest

from api import auth
from api.auth import InvalidCredentials, recent_viewer, viewer_for_token
from api.models import ApiToken


def bearer(caller) -> str:
    return f"Bearer {caller.token}"


def test_a_checked_token_is_remembered_so_checking_it_again_costs_no_query(owner, django_assert_num_queries):
    viewer = viewer_for_token(owner.token)
    assert viewer.user == owner.user

    with django_assert_num_queries(0):
        assert viewer_for_token(owner.token) == viewer
        assert recent_viewer(authorization=bearer(owner)) == viewer


def test_a_token_never_checked_is_not_remembered(owner, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert recent_viewer(authorization=bearer(owner)) is None


def test_a_deleted_token_is_refused_once_its_entry_has_expired(owner, monkeypatch):
    monkeypatch.setattr(auth, "TOKEN_CACHE_SECONDS", 0.0)  # every entry has expired by the next check
    viewer_for_token(owner.token)

    ApiToken.objects.filter(user=owner.user).delete()

    assert recent_viewer(authorization=bearer(owner)) is None
    with pytest.raises(InvalidCredentials):
        viewer_for_token(owner.token)


def test_the_token_of_a_deactivated_user_is_refused_once_its_entry_has_expired(owner, monkeypatch):
    monkeypatch.setattr(auth, "TOKEN_CACHE_SECONDS", 0.0)
    viewer_for_token(owner.token)

    owner.user.is_active = False
    owner.user.save(update_fields=["is_active"])

    assert recent_viewer(authorization=bearer(owner)) is None
    with pytest.raises(InvalidCredentials):
        viewer_for_token(owner.token)


def test_a_token_is_remembered_for_no_longer_than_token_cache_seconds(owner, monkeypatch):
    monkeypatch.setattr(auth, "TOKEN_CACHE_SECONDS", 0.2)
    viewer_for_token(owner.token)
    checked_at = time.monotonic()
    ApiToken.objects.filter(user=owner.user).delete()

    # The clock itself is what is tested here: wait until TOKEN_CACHE_SECONDS have passed since the check.
    time.sleep(max(0.0, checked_at + auth.TOKEN_CACHE_SECONDS - time.monotonic()))

    assert recent_viewer(authorization=bearer(owner)) is None
    with pytest.raises(InvalidCredentials):
        viewer_for_token(owner.token)
