"""The login throttle's token buckets, on a clock the test moves."""

from __future__ import annotations

from callcenter.accounts.throttle import Throttle, take_all


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_key_gets_its_capacity_then_one_attempt_back_per_interval() -> None:
    clock = Clock()
    throttle = Throttle(capacity=3, per_seconds=60, clock=clock)

    for _ in range(3):
        assert throttle.wait("k") == 0
        throttle.take("k")
    assert throttle.wait("k") == 20

    clock.now += 19
    assert throttle.wait("k") == 1
    clock.now += 1
    assert throttle.wait("k") == 0
    clock.now += 3600
    throttle.take("k")
    throttle.take("k")
    throttle.take("k")
    assert throttle.wait("k") == 20, "refilling stops at the capacity"


def test_keys_are_counted_apart_and_given_back() -> None:
    throttle = Throttle(capacity=1, per_seconds=60, clock=Clock())
    throttle.take("a")
    assert throttle.wait("a") > 0
    assert throttle.wait("b") == 0
    throttle.give_back("a")
    assert throttle.wait("a") == 0
    throttle.take("a")
    throttle.forget("a")
    assert throttle.wait("a") == 0


def test_take_all_takes_from_every_key_or_from_none() -> None:
    clock = Clock()
    address = Throttle(capacity=5, per_seconds=60, clock=clock)
    email = Throttle(capacity=1, per_seconds=60, clock=clock)

    assert take_all([(address, "ip"), (email, "ip a@x")]) == 0
    assert take_all([(address, "ip"), (email, "ip a@x")]) == 60

    assert address.wait("ip") == 0
    for _ in range(4):
        address.take("ip")
    assert address.wait("ip") == 12, "the refused attempt took nothing from the address"


def test_the_least_recently_used_keys_go_beyond_the_limit() -> None:
    throttle = Throttle(capacity=1, per_seconds=60, max_keys=2, clock=Clock())
    throttle.take("old")
    throttle.take("kept")
    throttle.wait("kept")
    throttle.take("new")

    assert throttle.wait("kept") > 0
    assert throttle.wait("new") > 0
    assert throttle.wait("old") == 0, "forgotten: memory stays bounded"
