"""The batch's rate limiter: slots and shared pauses per provider key, across threads and
processes, and the provider wrapper that puts it in front of every request."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from agent import AIAgent
from agent.batch.limited import LimitedProvider, QueueAwareClock, SlotWaitCancelled, limiter_key
from agent.batch.limiter import RateLimiter
from agent.batch.limiter_server import LimiterClient, LimiterServer
from agent.providers.base import ErrorFacts, ModelRequest
from agent.testing import ScriptedError, ScriptedProvider, ScriptedReply

REQUEST = ModelRequest(model="m", system="s", messages=[])


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_slots_per_key_are_capped_and_come_back_on_release() -> None:
    limiter = RateLimiter(max_in_flight=2)
    first = limiter.acquire("a", "t1", 0)
    second = limiter.acquire("a", "t2", 0)
    assert first is not None and second is not None
    assert limiter.acquire("a", "t3", 0) is None  # full
    assert limiter.acquire("b", "t3", 0) is not None  # another key has its own slots
    limiter.release(first)
    limiter.release(first)  # twice is harmless
    assert limiter.acquire("a", "t3", 0) is not None
    assert limiter.stats()["a"].in_flight == 2


def test_a_pause_holds_every_request_of_its_key_until_it_ends() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock)
    limiter.pause("a", 5.0)
    assert limiter.acquire("a", "t1", 0) is None
    assert limiter.acquire("b", "t1", 0) is not None  # other keys are not paused
    limiter.pause("a", 1.0)  # a shorter pause never shortens the one that is on
    clock.now += 4.0
    assert limiter.acquire("a", "t1", 0) is None
    clock.now += 1.5
    assert limiter.acquire("a", "t1", 0) is not None
    assert limiter.stats()["a"].pauses == 1


def test_a_bogus_retry_after_is_capped() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, max_pause=60.0)
    limiter.pause("a", 86_400)
    clock.now += 61
    assert limiter.acquire("a", "t", 0) is not None


def test_a_waiting_acquire_gets_the_slot_a_release_frees() -> None:
    limiter = RateLimiter(max_in_flight=1)
    held = limiter.acquire("a", "t1", 0)
    assert held is not None
    got: list[int | None] = []
    waiter = threading.Thread(target=lambda: got.append(limiter.acquire("a", "t2", 30)))
    waiter.start()
    limiter.release(held)
    waiter.join(30)
    assert got and got[0] is not None


def test_release_owner_frees_what_a_lost_task_held() -> None:
    limiter = RateLimiter(max_in_flight=1)
    assert limiter.acquire("a", "lost", 0) is not None
    assert limiter.release_owner("lost") == 1
    assert limiter.acquire("a", "next", 0) is not None


@pytest.fixture
def served() -> Iterator[tuple[RateLimiter, LimiterServer]]:
    limiter = RateLimiter(max_in_flight=1)
    server = LimiterServer(limiter)
    try:
        yield limiter, server
    finally:
        server.close()


def test_the_limiter_serves_other_processes_and_a_closed_connection_gives_its_slots_back(
    served: tuple[RateLimiter, LimiterServer],
) -> None:
    limiter, server = served
    client = LimiterClient(server.address, server.authkey)
    lease = client.acquire("a", "t1", 0)
    assert lease is not None
    other = LimiterClient(server.address, server.authkey)
    assert other.acquire("a", "t2", 0) is None
    client.pause("b", 30)
    assert limiter.stats()["b"].paused_for > 0
    client.close()  # like a worker killed with its slot: the server frees it
    assert other.acquire("a", "t2", 10) is not None
    other.close()


def test_a_client_with_the_wrong_key_is_refused(served: tuple[RateLimiter, LimiterServer]) -> None:
    _limiter, server = served
    from multiprocessing import AuthenticationError

    with pytest.raises(AuthenticationError):
        LimiterClient(server.address, b"wrong" * 8)
    good = LimiterClient(server.address, server.authkey)  # the server still serves
    assert good.acquire("a", "t", 0) is not None
    good.close()


# --- the provider wrapper ---------------------------------------------------------------------


def test_a_stream_holds_its_slot_until_it_is_closed() -> None:
    limiter = RateLimiter(max_in_flight=1)
    provider = LimitedProvider(ScriptedProvider(["one", "two"]), limiter, "t1")
    stream = provider.open_stream(REQUEST)
    assert limiter.stats()[provider.key].in_flight == 1
    list(stream)
    stream.close()
    stream.close()
    assert limiter.stats()[provider.key].in_flight == 0
    provider.open_stream(REQUEST).close()


def test_a_failed_request_gives_its_slot_back_and_a_retry_after_pauses_the_key() -> None:
    limiter = RateLimiter(max_in_flight=1)
    too_many = ScriptedError(ErrorFacts("http_status", "slow down", 429, retry_after=30.0))
    provider = LimitedProvider(ScriptedProvider([too_many]), limiter, "t1")
    with pytest.raises(ScriptedError) as raised:
        provider.open_stream(REQUEST)
    stats = limiter.stats()[provider.key]
    assert stats.in_flight == 0 and stats.paused_for > 20
    assert provider.error_facts(raised.value).retry_after == 30.0  # the facts pass through unchanged
    assert limiter.stats()[provider.key].pauses == 1  # noticed once, not twice


def test_error_facts_with_retry_after_pause_the_key() -> None:
    limiter = RateLimiter()
    provider = LimitedProvider(ScriptedProvider(), limiter, "t1")
    facts = provider.error_facts(ScriptedError(ErrorFacts("sse_error", "overloaded", 529, retry_after=12.0)))
    assert facts.status == 529
    assert limiter.stats()[provider.key].paused_for > 10
    provider.error_facts(ScriptedError(ErrorFacts("transport", "reset")))
    assert limiter.stats()[provider.key].pauses == 1


class SignallingClock(QueueAwareClock):
    """Says when a request starts waiting for its slot."""

    def __init__(self) -> None:
        super().__init__()
        self.waiting = threading.Event()

    def wait_started(self) -> None:
        super().wait_started()
        self.waiting.set()


def test_a_reset_cancels_a_wait_for_a_slot() -> None:
    limiter = RateLimiter(max_in_flight=1)
    assert limiter.acquire("scripted ", "other", 0) is not None  # the key is full
    clock = SignallingClock()
    provider = LimitedProvider(ScriptedProvider(["never"]), limiter, "t1", clock)
    assert provider.key == "scripted "
    failures: list[BaseException] = []

    def open_one() -> None:
        try:
            provider.open_stream(REQUEST)
        except BaseException as exc:
            failures.append(exc)

    waiter = threading.Thread(target=open_one, daemon=True)
    waiter.start()
    assert clock.waiting.wait(30)
    provider.reset("interrupt")
    waiter.join(30)
    assert len(failures) == 1 and isinstance(failures[0], SlotWaitCancelled)
    assert provider.error_facts(failures[0]).kind == "transport"
    assert provider.inner.resets == ["interrupt"]  # type: ignore[attr-defined]


def test_the_agent_clock_stands_still_while_a_request_waits_for_a_slot() -> None:
    base = FakeClock()
    clock = QueueAwareClock(base)
    assert clock() == 100.0
    clock.wait_started()
    clock.wait_started()  # two waits at once share the frozen time
    base.now += 50
    assert clock() == 100.0
    clock.wait_ended()
    base.now += 5
    assert clock() == 100.0
    clock.wait_ended()
    base.now += 2
    assert clock() == 102.0


def test_the_wrapper_reads_and_writes_the_real_providers_attributes() -> None:
    inner = ScriptedProvider(model="m1", context_window=1234)
    provider = LimitedProvider(inner, RateLimiter(), "t")
    assert (provider.name, provider.wire, provider.model, provider.context_window) == (
        "scripted",
        "scripted",
        "m1",
        1234,
    )
    provider.stale_timeout = 7.0
    assert inner.stale_timeout == 7.0
    assert provider.chunk_size is None  # anything else reads through
    assert limiter_key(inner) == "scripted "


def test_an_agent_wraps_its_provider_and_runs_through_the_limiter() -> None:
    limiter = RateLimiter(max_in_flight=1)
    wrapped: list[Any] = []

    def wrap(provider: Any) -> Any:
        limited = LimitedProvider(provider, limiter, "t1")
        wrapped.append(limited)
        return limited

    inner = ScriptedProvider([ScriptedReply("hi")])
    with AIAgent(provider=inner, tools=[], wrap_provider=wrap) as agent:
        assert agent.provider is wrapped[0]
        assert agent.run("hello").status == "completed"
    assert limiter.stats()["scripted "].in_flight == 0
    inner.assert_complete()
