"""``AIAgent``: the facade that the CLI and embedding applications use.

It holds the settings, the provider, the tools and the conversation, and runs turns
through the one loop. One turn at a time per agent; ``interrupt`` is safe from any
thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from agent.call import CallContext, CallSettings
from agent.config import FallbackSpec, Settings, default_provider, settings_from_env
from agent.errors import AgentBusyError, ConfigError, MissingKeyError
from agent.events import AgentEvent, TurnFinished
from agent.loop import TurnState, run_turn
from agent.messages import Message
from agent.models import ModelCatalog
from agent.prompts import default_system_prompt
from agent.providers.base import Provider
from agent.providers.factory import build_provider
from agent.providers.profiles import ProfileError, resolve_profile
from agent.recovery.fallback import ProviderChain
from agent.recovery.stalls import StallLedger
from agent.result import AgentResult
from agent.streaming.watchdog import Clock
from agent.streaming.worker import StreamWorker
from agent.tools.base import Tool, ToolContext, ToolRegistry
from agent.tools.builtin import builtin_tools


class AIAgent:
    """An agent conversation: ``run(text)`` for a result, ``stream(text)`` for events.

    Arguments not given fall back to the environment (``STAYLINE_STALE_TIMEOUT``,
    ``STAYLINE_MAX_RETRIES``...) and then to defaults. ``tools=None`` gives the
    built-in toolset; ``tools=[]`` gives none.
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
        *,
        api_mode: str | None = None,
        max_tokens: int | None = None,
        settings: Settings | None = None,
        history: Iterable[Message] | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        instance = None if provider is None or isinstance(provider, str) else provider
        base = settings or Settings().with_values(**settings_from_env())
        self.settings = base.with_values(
            provider=provider if isinstance(provider, str) else None,
            model=model,
            base_url=base_url,
            api_key=api_key,
            workdir=Path(workdir) if workdir is not None else None,
            system_prompt=system_prompt,
            stale_timeout=stale_timeout,
            max_retries=max_retries,
            max_iterations=max_iterations,
            api_mode=api_mode,
            max_tokens=max_tokens,
            fallbacks=tuple(FallbackSpec.coerce(f) for f in fallbacks) if fallbacks is not None else None,
        ).validated()
        self.workdir = (self.settings.workdir or Path.cwd()).resolve()
        if not self.workdir.is_dir():
            raise ConfigError(f"working directory {self.workdir} does not exist")
        self._chain = ProviderChain(
            instance if instance is not None else _provider_from(self.settings),
            list(self.settings.fallbacks),
            lambda spec: _provider_from(_fallback_settings(self.settings, spec)),
            cooldown=self.settings.fallback_cooldown,
            clock=clock,
        )
        self._tools = ToolRegistry(builtin_tools() if tools is None else tools)
        self._history: list[Message] = list(history or [])
        self._clock = clock
        self._interrupt = threading.Event()
        self._workers: list[StreamWorker] = []
        self._turn_lock = threading.Lock()
        self._ledger = StallLedger(
            self.settings.stall_threshold, self.settings.max_guidance_rounds, self.settings.chunk_chars
        )
        self.session_id: str | None = None
        self.last_result: AgentResult | None = None

    # -- conversation --------------------------------------------------------------
    @property
    def history(self) -> list[Message]:
        """A copy of the conversation so far."""
        return list(self._history)

    @history.setter
    def history(self, messages: Iterable[Message]) -> None:
        self._history = list(messages)

    @property
    def provider(self) -> Provider:
        """The provider serving turns now (a fallback while the primary cools down)."""
        return self._chain.current

    @property
    def tools(self) -> ToolRegistry:
        return self._tools

    # -- turns ---------------------------------------------------------------------
    def stream(self, text: str) -> Iterator[AgentEvent]:
        """Run one turn, yielding its events; the last one is ``TurnFinished``.
        When it ends, ``last_result`` holds the turn's ``AgentResult``."""
        if not self._turn_lock.acquire(blocking=False):
            raise AgentBusyError("this agent is already running a turn; one turn at a time")
        self._interrupt.clear()
        state = self._turn_state()
        try:
            for event in run_turn(state, text):
                if isinstance(event, TurnFinished):
                    self.last_result = self._result(state, event)
                yield event
        finally:
            self._turn_lock.release()

    def run(self, text: str) -> AgentResult:
        """Run one turn to its end and return the outcome."""
        for _event in self.stream(text):
            pass
        assert self.last_result is not None  # every turn ends with TurnFinished
        return self.last_result

    def _result(self, state: TurnState, finished: TurnFinished) -> AgentResult:
        return AgentResult(
            status=finished.status,
            final_text=finished.final_text,
            messages=self.history,
            usage={"input_tokens": state.usage.input_tokens, "output_tokens": state.usage.output_tokens},
            error=finished.error,
            api_calls=state.api_calls,
            session_id=self.session_id,
            counts=finished.counts,
        )

    def interrupt(self) -> None:
        """End the running turn soon (within half a second); safe from any thread."""
        self._interrupt.set()
        for worker in list(self._workers):
            worker.wake()

    def close(self) -> None:
        """Release the provider's connections."""
        self._chain.close()

    def __enter__(self) -> AIAgent:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def _turn_state(self) -> TurnState:
        settings = self.settings
        call_settings = CallSettings(
            settings.stale_timeout, settings.max_retries + 1, settings.max_continuations, self._clock
        )
        return TurnState(
            chain=self._chain,
            history=self._history,
            tools=self._tools,
            tool_context=ToolContext(self.workdir),
            system_prompt=settings.system_prompt or default_system_prompt(self.workdir),
            call_context=CallContext(call_settings, self._interrupt, self._workers, self._ledger),
            max_iterations=settings.max_iterations,
            max_tokens=settings.max_tokens,
            stream=settings.stream,
            session_id=self.session_id,
        )


def _fallback_settings(settings: Settings, spec: FallbackSpec) -> Settings:
    """A fallback entry's settings: its own endpoint and key, the rest shared."""
    return replace(
        settings,
        provider=spec.provider,
        model=spec.model,
        base_url=spec.base_url,
        api_mode=spec.api_mode,
        api_key=spec.api_key,
        fallbacks=(),
    )


def _provider_from(settings: Settings) -> Provider:
    name = settings.provider or ("custom" if settings.base_url and not settings.provider else default_provider())
    try:
        profile = resolve_profile(name, settings.base_url, settings.api_mode)
    except ProfileError as exc:
        raise ConfigError(str(exc)) from None
    key = profile.resolve_key(settings.api_key)
    if profile.key_required and not key:
        raise MissingKeyError(f"no API key for provider {profile.name}: set {profile.key_env} or pass --api-key")
    model = settings.model or profile.default_model
    if not model:
        raise ConfigError(f"provider {profile.name} has no default model: pass --model NAME")
    catalog = ModelCatalog(settings.model_overrides)
    return build_provider(
        profile,
        model,
        key,
        catalog,
        timeout=settings.request_timeout,
        eager_tool_streaming=settings.eager_tool_streaming,
    )
