"""The stale detector on a fake clock: no real waiting."""

from __future__ import annotations

from agent.streaming.watchdog import StaleWatchdog


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


# --- two limits -------------------------------------------------------------------------------


def test_the_first_token_limit_applies_until_progress_then_the_gap_limit() -> None:
    from agent.streaming.watchdog import StallLimits

    clock = FakeClock()
    dog = StaleWatchdog(StallLimits(first_token=10, gap=2), clock=clock)
    clock.now += 9
    assert dog.check().state != "stale"  # thinking before the first token is allowed its 10 s
    dog.progress()
    clock.now += 2.5
    verdict = dog.check()
    assert verdict.state == "stale" and verdict.phase == "between_deltas"


def test_keep_alives_are_counted_but_are_not_progress() -> None:
    clock = FakeClock()
    dog = StaleWatchdog(5, clock=clock)
    for _ in range(3):
        clock.now += 2
        dog.keepalive()
    verdict = dog.check()
    assert verdict.state == "stale" and verdict.keepalives == 3


def test_default_limits() -> None:
    from agent.streaming.watchdog import default_stall_limits

    cloud = default_stall_limits(is_local=False, reasoning=False, estimated_input_tokens=1_000)
    assert (cloud.first_token, cloud.gap) == (180, 180)
    thinker = default_stall_limits(is_local=False, reasoning=True, estimated_input_tokens=1_000)
    assert (thinker.first_token, thinker.gap) == (600, 180)  # thinks first, but the gap stays tight
    big = default_stall_limits(is_local=False, reasoning=False, estimated_input_tokens=120_000)
    assert big.first_token == 300 and big.gap == 180
    local = default_stall_limits(is_local=True, reasoning=False, estimated_input_tokens=1_000)
    assert (local.first_token, local.gap) == (900, 300)


def test_an_explicit_setting_wins_over_every_default() -> None:
    import time

    from agent.call import CallSettings
    from agent.providers.base import ModelRequest
    from agent.testing import ScriptedProvider

    provider = ScriptedProvider()
    provider.is_local, provider.reasoning = False, True
    request = ModelRequest(model="m", system="", messages=[])
    both = CallSettings(2.0, 3, 3, time.monotonic).stall_limits(provider, request)
    assert (both.first_token, both.gap) == (2.0, 2.0)  # even below the reasoning default
    first_only = CallSettings(None, 3, 3, time.monotonic, first_token_timeout=30).stall_limits(provider, request)
    assert (first_only.first_token, first_only.gap) == (30, 180)
    provider.first_token_timeout = 45  # a provider's own setting (config file) beats the agent's
    assert (
        CallSettings(None, 3, 3, time.monotonic, first_token_timeout=30).stall_limits(provider, request).first_token
        == 45
    )
