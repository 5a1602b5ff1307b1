"""Reads: ids from clients are bounded before they reach the database or a channel-layer group name."""

import pytest

from submissions import events, selectors
from submissions.exceptions import NotFound


@pytest.mark.parametrize("submission_id", ["1", "42", str(2**63 - 1), 7])
def test_an_id_the_api_could_give_is_parsed(submission_id):
    assert selectors.parse_submission_id(submission_id) == int(submission_id)


@pytest.mark.parametrize(
    "submission_id",
    ["9" * 95, str(2**63), "0", "-1", "+1", " 1", "1 ", "1_0", "\u0661", "1.0", "", "abc", "1\u0000"],
)
def test_an_id_that_cannot_exist_is_not_found(submission_id):
    with pytest.raises(NotFound) as raised:
        selectors.parse_submission_id(submission_id)
    assert len(raised.value.message) < 100  # a huge id is not echoed back whole


def test_every_parsed_id_makes_a_valid_group_name():
    # Channels refuses group names of 100 characters or more.
    assert len(events.group_name(selectors.parse_submission_id(str(2**63 - 1)))) < 100
