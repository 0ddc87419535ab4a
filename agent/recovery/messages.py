"""Actionable messages for turns that could not finish: what happened, what was kept,
what to try. One place, so every way in (CLI, --json, AIAgent) says the same thing."""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent.recovery.policy import describe

if TYPE_CHECKING:
    from agent.call import CallResult
    from agent.providers.base import Provider

_TIMES = {1: "once", 2: "twice", 3: "three times"}


def _times(n: int) -> str:
    return _TIMES.get(n, f"{n} times")


def _kept(result: CallResult) -> str:
    notes = []
    if result.text:
        notes.append(
            f"The partial reply ({len(result.text):,} characters) is kept in the conversation; "
            "say 'continue' to resume from it."
        )
    else:
        notes.append("The conversation so far is kept.")
    cut = result.cut_call
    if cut is not None:
        where = f" to {cut.target}" if cut.target else ""
        notes.append(
            f"An unfinished {cut.name or 'tool'} call{where} "
            f"({cut.chars_received:,} characters of arguments) was discarded without being executed."
        )
    return " ".join(notes)


def call_failure_message(result: CallResult, provider: Provider, stale_after: float) -> str:
    facts = result.error
    decision = result.decision
    where = f"{provider.model} via {provider.name}"
    if facts is None or decision is None:
        return f"the model call to {where} failed. {_kept(result)}"
    failure = decision.failure
    if facts.kind == "stale":
        what = f"the provider sent nothing for {stale_after:.0f} s, {_times(result.stalls)} ({where})."
        todo = (
            "Try a fallback model (--fallback PROVIDER:MODEL), asking for the work in smaller pieces, "
            "or a longer --stale-timeout."
        )
    elif failure == "transient":
        what = f"the connection to {where} failed {_times(result.attempts)}; last: {describe(facts)}."
        todo = "Check your network, then say 'continue'; or use a fallback model (--fallback PROVIDER:MODEL)."
    elif failure == "overloaded":
        what = f"{where} is overloaded or rate-limited after {result.attempts} attempts ({describe(facts)})."
        todo = "Wait a little and say 'continue', or use a fallback model (--fallback PROVIDER:MODEL)."
    elif failure == "auth":
        key = getattr(getattr(provider, "profile", None), "key_env", None)
        what = f"{provider.name} refused the credentials ({describe(facts)})."
        todo = f"Check the API key{f' in {key}' if key else ''} or pass --api-key."
    elif failure == "model_not_found":
        what = f"model {provider.model!r} was not found at {provider.name} ({describe(facts)})."
        todo = "Check --model (the provider's model list has the exact id)."
    elif failure == "context_length":
        what = f"the conversation is too long for {where} ({describe(facts)})."
        todo = (
            "Nothing was lost: the whole conversation is kept in the session. Start a new conversation "
            "with /new, or switch to a model with a larger context window with /model."
        )
    elif failure == "content_policy":
        what = f"{where} refused the request under its content policy ({describe(facts)})."
        todo = "Rephrase the request, or use another model."
    else:
        what = f"{where} refused the request ({describe(facts)})."
        todo = "This is not retried automatically; if it persists, report it with --trace-stream output."
    return f"{what} {_kept(result)} {todo}"


def cut_tool_call_message(result: CallResult, max_tokens: int | None) -> str:
    cut = result.cut_call
    name = (cut.name if cut else None) or "a tool"
    where = f" to {cut.target}" if cut and cut.target else ""
    size = f" after {cut.chars_received:,} characters" if cut else ""
    limit = f" ({max_tokens:,} tokens)" if max_tokens else ""
    return (
        f"the model's reply reached its output limit{limit} in the middle of a {name} call{where}{size}; "
        f"the call was not executed. {_kept(result)} Ask for the content in smaller pieces "
        "(write_file, then write_file with mode 'append'), or raise --max-tokens."
    )
