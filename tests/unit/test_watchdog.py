"""The stale detector on a fake clock: no real waiting."""

from __future__ import annotations

from agent.streaming.watchdog import StaleWatchdog, default_stale_timeout


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_first_delta_limit_then_gap_limit() -> None:
    clock = FakeClock()
    dog = StaleWatchdog(10.0, clock=clock, waiting_after=100)
    clock.now += 9.9
    assert dog.check().state == "ok"
    dog.progress()
    clock.now += 9.9
    assert dog.check().state == "ok"
    clock.now += 0.2
    verdict = dog.check()
    assert verdict.state == "stale" and verdict.phase == "between_deltas"


def test_silence_before_first_delta_is_stale() -> None:
    clock = FakeClock()
    dog = StaleWatchdog(5.0, clock=clock)
    clock.now += 5.0
    verdict = dog.check()
    assert verdict.state == "stale" and verdict.phase == "first_delta"


def test_waiting_notice_after_20s_then_every_10s() -> None:
    clock = FakeClock()
    dog = StaleWatchdog(180.0, clock=clock)
    clock.now += 19
    assert dog.check().state == "ok"
    clock.now += 1
    assert dog.check().state == "waiting"
    clock.now += 5
    assert dog.check().state == "ok"
    clock.now += 5
    assert dog.check().state == "waiting"
    assert dog.seconds_to_next_check() == 10


def test_non_streaming_calls_get_a_total_limit() -> None:
    clock = FakeClock()
    dog = StaleWatchdog(30.0, streaming=False, clock=clock)
    dog.progress()
    clock.now += 30
    verdict = dog.check()
    assert verdict.state == "stale" and verdict.phase == "total"


def test_default_limits() -> None:
    assert default_stale_timeout(False, 1_000) == 180
    assert default_stale_timeout(False, 60_000) >= 240
    assert default_stale_timeout(False, 120_000) >= 300
    assert default_stale_timeout(True, 1_000) == 900
