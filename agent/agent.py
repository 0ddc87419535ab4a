"""``AIAgent``: the facade that the CLI and embedding applications use.

It holds the settings, the provider chain, the tools and the conversation, and runs
turns through the one loop. One turn at a time per agent; ``interrupt`` is safe from
any thread; the async variants run the same loop in a thread.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from agent.agent_session import AgentSession
from agent.assembly import ProviderWrapper, build_chain, provider_from
from agent.call import CallContext, CallSettings
from agent.config import CompactionSettings, FallbackSpec, Settings, settings_from_arguments
from agent.context.state import ContextState
from agent.conversation import Conversation
from agent.cost import Spend
from agent.errors import AgentBusyError, ConfigError
from agent.events import AgentEvent, TurnFinished
from agent.loop import run_compaction, run_turn
from agent.messages import Message
from agent.prompts import default_system_prompt
from agent.providers.base import Provider
from agent.providers.caching import session_cache_key
from agent.recovery.repeats import RepeatGuard
from agent.recovery.stalls import StallLedger
from agent.result import AgentResult
from agent.streaming.attempt import StreamObserver
from agent.streaming.watchdog import Clock
from agent.streaming.worker import StreamWorker
from agent.tool_access import Approver, ToolAccess
from agent.turn_state import TurnState
from agent.usage import Usage
from tools.base import Tool, ToolRegistry
from tools.builtin import builtin_tools


class AIAgent:
    """An agent conversation: ``run(text)`` for a result, ``stream(text)`` for events.

    Arguments not given fall back to the environment (``STAYLINE_STALE_TIMEOUT``,
    ``STAYLINE_MAX_RETRIES``...), then to ``settings``, then to defaults.
    ``provider`` is a profile name or a ready ``Provider`` (e.g. ``ScriptedProvider``).
    ``tools=None`` gives the built-in toolset; ``tools=[]`` gives none. ``session``
    persists the conversation: "new", "latest" or a session id (None: in memory only).
    ``approve(tool, action)`` decides on dangerous commands; without it they are refused
    unless the settings say ``approval="yolo"``. Tools never see the provider keys: the
    terminal runs without them (and without what the secret denylist matches), and
    every tool result is redacted. ``settings.sandbox`` runs commands under bubblewrap
    (a ConfigError says why when it cannot work here).
    ``compaction`` configures how a long conversation is kept inside the model's context
    window (``CompactionSettings``, a dict of its fields, or False to turn it off).
    ``wrap_provider(provider)`` is applied to every provider of the chain, fallbacks
    included (the batch runner's rate limiter).
    """

    def __init__(
        self,
        provider: str | Provider | None = None,
        model: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        workdir: str | Path | None = None,
        tools: Iterable[Tool] | None = None,
        system_prompt: str | None = None,
        fallbacks: Iterable[FallbackSpec | str | Mapping[str, Any]] | None = None,
        stale_timeout: float | None = None,
        max_retries: int | None = None,
        max_iterations: int | None = None,
        session: str | None = None,
        *,
        api_mode: str | None = None,
        max_tokens: int | None = None,
        settings: Settings | None = None,
        history: Iterable[Message] | None = None,
        approve: Approver | None = None,
        stream_observer: StreamObserver | None = None,
        session_home: str | Path | None = None,
        clock: Clock = time.monotonic,
        first_token_timeout: float | None = None,
        retry_budget: float | None = None,
        compaction: CompactionSettings | bool | dict[str, Any] | None = None,
        wrap_provider: ProviderWrapper | None = None,
    ) -> None:
        self.settings = settings_from_arguments(
            settings,
            provider=provider if isinstance(provider, str) else None,
            model=model,
            base_url=base_url,
            api_key=api_key,
            workdir=workdir,
            system_prompt=system_prompt,
            fallbacks=fallbacks,
            stale_timeout=stale_timeout,
            max_retries=max_retries,
            max_iterations=max_iterations,
            api_mode=api_mode,
            max_tokens=max_tokens,
            first_token_timeout=first_token_timeout,
            retry_budget=retry_budget,
            compaction=compaction,
        )
        self._set_up(provider, tools, history, approve, stream_observer, session, session_home, clock, wrap_provider)

    def _set_up(
        self,
        provider: str | Provider | None,
        tools: Iterable[Tool] | None,
        history: Iterable[Message] | None,
        approve: Approver | None,
        stream_observer: StreamObserver | None,
        session: str | None,
        session_home: str | Path | None,
        clock: Clock,
        wrap_provider: ProviderWrapper | None,
    ) -> None:
        """Everything else the agent holds, once its settings are decided."""
        instance = None if provider is None or isinstance(provider, str) else provider
        self.workdir = (self.settings.workdir or Path.cwd()).resolve()
        if not self.workdir.is_dir():
            raise ConfigError(f"working directory {self.workdir} does not exist")
        self._tool_access = ToolAccess(self.workdir, self.settings, approve)
        self._clock = clock
        self._wrap = wrap_provider
        self._chain = build_chain(self.settings, instance, clock, wrap_provider)
        self._tools = ToolRegistry(builtin_tools() if tools is None else tools)
        self._observer = stream_observer
        self._interrupt = threading.Event()
        self._workers: list[StreamWorker] = []
        self._turn_lock = threading.Lock()
        self._conversation = Conversation(self.settings.compaction, list(history or []), lambda: self._session.binding)
        self._session = AgentSession(self._conversation, _new_ledger(self.settings))
        if session is not None:
            home = Path(session_home) if session_home else None
            self._session.start(session, home, self._chain.current, self.workdir)
        self.last_result: AgentResult | None = None
        self._total_usage = Usage()
        self._total_spend = Spend()
        self._total_api_calls = 0
        self._cache_seed = secrets.token_hex(16)  # the cache key's seed when there is no session

    # -- conversation --------------------------------------------------------------
    @property
    def history(self) -> list[Message]:
        """A copy of the conversation as the model sees it (old tool outputs may be stubs,
        older messages replaced by a summary); ``full_history`` has every message."""
        return list(self._conversation.working)

    @history.setter
    def history(self, messages: Iterable[Message]) -> None:
        self._conversation.replace(list(messages), ContextState())

    @property
    def full_history(self) -> list[Message]:
        """Every message as it happened (trimming and compaction change only ``history``)."""
        return list(self._conversation.full)

    @property
    def session_id(self) -> str | None:
        return self._session.session_id

    @property
    def provider(self) -> Provider:
        """The provider serving turns now (a fallback while the primary cools down)."""
        return self._chain.current

    @property
    def total_usage(self) -> dict[str, int | None]:
        """Tokens since this agent was made (``Usage.to_dict()``) and ``api_calls``."""
        return {**self._total_usage.to_dict(), "api_calls": self._total_api_calls}

    @property
    def total_cost(self) -> float | None:
        """Dollars spent since this agent was made; None when a call could not be priced
        (a model without a price, or a server that reports no usage)."""
        return self._total_spend.cost.total

    @property
    def total_spend(self) -> Spend:
        """Cost and recovery waste since this agent was made (see ``agent.cost``)."""
        return self._total_spend

    @property
    def tools(self) -> ToolRegistry:
        return self._tools

    @property
    def context_usage(self) -> dict[str, int | float]:
        """How full the window is now (``window``, ``tokens``, ``fill``, ``compactions``...)."""
        system = self.settings.system_prompt or default_system_prompt(self.workdir)
        return self._conversation.usage(self.provider, system, self._tools)

    def undo(self) -> str | None:
        """Remove the last turn (the user's message and all that followed); returns its
        text. Works across a compaction: what the model saw before that turn comes back."""
        return self._conversation.undo()

    def retry(self) -> Iterator[AgentEvent]:
        """Run the last turn again from its user message."""
        text = self.undo()
        if text is None:
            raise ValueError("there is no turn to retry yet")
        return self.stream(text)

    def new_conversation(self) -> None:
        """Start over: an empty history (and a new session when sessions are on)."""
        self._session.renew(self._chain.current, self.workdir)

    def switch_model(
        self,
        provider: str,
        model: str | None = None,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        api_mode: str | None = None,
    ) -> Provider:
        """Continue the conversation on another model, on either wire. A new provider
        starts from its own endpoint, key and default model unless they are given."""
        if provider != self._chain.current.name:
            settings = replace(
                self.settings, provider=provider, model=model, base_url=base_url, api_key=api_key, api_mode=api_mode
            )
        else:
            settings = self.settings.with_values(model=model, base_url=base_url, api_key=api_key, api_mode=api_mode)
        new_primary = provider_from(settings)  # fails clearly before anything changes
        old = self._chain
        self._chain = build_chain(settings, new_primary, self._clock, self._wrap)
        self.settings = settings
        old.close()
        self._session.set_model(new_primary)
        return self._chain.current

    def resume_session(self, which: str, home: str | Path | None = None) -> None:
        """Switch to a saved session ("latest" or an id): its history and stall ledger."""
        if self._turn_lock.locked():
            raise AgentBusyError("cannot switch sessions while a turn is running")
        store_home = Path(home) if home else None
        self._session.resume(which, store_home, self._chain.current, self.workdir, _new_ledger(self.settings))

    # -- turns ---------------------------------------------------------------------
    def stream(self, text: str) -> Iterator[AgentEvent]:
        """Run one turn, yielding its events; the last one is ``TurnFinished``.
        When it ends, ``last_result`` holds the turn's ``AgentResult``."""
        return self._run(lambda state: run_turn(state, text))

    def compact(self, focus: str | None = None) -> Iterator[AgentEvent]:
        """Summarise the older conversation now (``/compact``), as a turn of its own; the
        summary stresses ``focus`` when given. ``undo`` goes back across it."""
        return self._run(lambda state: run_compaction(state, focus))

    def _run(self, turn: Callable[[TurnState], Iterator[AgentEvent]]) -> Iterator[AgentEvent]:
        """One turn under the turn lock (taken when iteration starts, like any generator)."""
        if not self._turn_lock.acquire(blocking=False):
            raise AgentBusyError("this agent is already running a turn; one turn at a time")
        try:
            self._interrupt.clear()
            self._conversation.keeper.start_turn()
            state = self._turn_state()
            for event in turn(state):
                if isinstance(event, TurnFinished):
                    self.last_result = self._result(state, event)
                yield event
        finally:
            self._conversation.settle()
            self._session.save_ledger()
            self._turn_lock.release()

    def run(self, text: str) -> AgentResult:
        """Run one turn to its end and return the outcome."""
        for _event in self.stream(text):
            pass
        assert self.last_result is not None  # every turn ends with TurnFinished
        return self.last_result

    async def arun(self, text: str) -> AgentResult:
        """``run`` for asyncio apps: the turn runs in a thread, the event loop stays free."""
        result: AgentResult | None = None
        async for event in self.astream(text):
            if isinstance(event, TurnFinished):
                result = self.last_result
        assert result is not None
        return result

    async def astream(self, text: str) -> AsyncIterator[AgentEvent]:
        """``stream`` for asyncio apps. Cancelling the consumer interrupts the turn."""
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[AgentEvent | BaseException | None] = asyncio.Queue()

        def pump() -> None:
            try:
                for event in self.stream(text):
                    loop.call_soon_threadsafe(events.put_nowait, event)
            except BaseException as exc:  # handed to the consumer, which re-raises it
                loop.call_soon_threadsafe(events.put_nowait, exc)
            finally:
                loop.call_soon_threadsafe(events.put_nowait, None)

        thread = threading.Thread(target=pump, name="stayline-turn", daemon=True)
        thread.start()
        try:
            while (item := await events.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            if thread.is_alive():
                self.interrupt()
                await asyncio.to_thread(thread.join)

    def interrupt(self) -> None:
        """End the running turn soon (within half a second); safe from any thread."""
        self._interrupt.set()
        for worker in list(self._workers):
            worker.wake()

    def close(self) -> None:
        """Release the providers' connections and the session store."""
        self._chain.close()
        self._session.close()

    def __enter__(self) -> AIAgent:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- internals -----------------------------------------------------------------
    def _result(self, state: TurnState, finished: TurnFinished) -> AgentResult:
        usage = state.usage.to_dict()
        self._total_usage = self._total_usage + state.usage
        self._total_spend = self._total_spend + state.spend
        self._total_api_calls += state.api_calls
        return AgentResult(
            status=finished.status,
            final_text=finished.final_text,
            messages=self.history,
            usage=usage,
            error=finished.error,
            api_calls=state.api_calls,
            session_id=self.session_id,
            counts=finished.counts,
            context=self._conversation.keeper.turn.to_dict(),
            cost_usd=state.spend.cost.total,
            waste=state.spend.waste_dict(),
            truncated=state.truncated,
        )

    def _turn_state(self) -> TurnState:
        settings = self.settings
        call_settings = CallSettings(
            settings.stale_timeout,
            settings.max_retries + 1,
            settings.max_continuations,
            self._clock,
            first_token_timeout=settings.first_token_timeout,
            retry_budget=settings.retry_budget,
            escalate_early=settings.escalate_early,
        )
        context = CallContext(call_settings, self._interrupt, self._workers, self._session.ledger, self._observer)
        binding = self._session.binding
        return TurnState(
            chain=self._chain,
            history=self._conversation.working,
            tools=self._tools,
            tool_context=self._tool_access.context(settings),
            system_prompt=settings.system_prompt or default_system_prompt(self.workdir),
            call_context=context,
            max_iterations=settings.max_iterations,
            max_tokens=settings.max_tokens,
            stream=settings.stream,
            on_message=self._conversation.keep,
            on_tool_start=binding.tool_started if binding is not None else _ignore,
            session_id=self.session_id,
            context=self._conversation.keeper,
            cache_key=session_cache_key(self.session_id or self._cache_seed),
            repeats=RepeatGuard(settings.repeat_limit),
        )


def _new_ledger(settings: Settings) -> StallLedger:
    return StallLedger(settings.stall_threshold, settings.max_guidance_rounds, settings.chunk_chars)


def _ignore(item: object) -> None:
    return None
