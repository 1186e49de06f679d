"""The one mention rule (bot.core.policy.mention_order): who an alert pings, in what order."""

from __future__ import annotations

from bot.core.policy import RenotifyAudience, mention_order


def test_own_staff_first_then_managers_each_once() -> None:
    # 担当 3, 代理 5; managers 1 and 3 (the 担当 is also a manager: pinged once, as 担当).
    assert mention_order([3, 5], [1, 3]) == [3, 5, 1]


def test_a_first_renotify_step_stays_with_own_staff() -> None:
    assert mention_order([3, 5], [1], RenotifyAudience.PRIMARY) == [3, 5]


def test_managers_stand_in_when_no_own_staff_can_be_reached() -> None:
    assert mention_order([], [1, 2], RenotifyAudience.PRIMARY) == [1, 2]
    assert mention_order([], [1, 2]) == [1, 2]


def test_nobody_to_reach_is_nobody_pinged() -> None:
    assert mention_order([], []) == []
