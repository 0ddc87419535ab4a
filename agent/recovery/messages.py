"""Actionable messages for turns that could not finish: what happened, what was kept,
what to try. One place, so every way in (CLI, --json, AIAgent) says the same thing."""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent.recovery.policy import describe

if TYPE_CHECKING:
    from agent.providers.base import ErrorFacts, Provider
    from agent.recovery.outcome import CallResult

_TIMES = {1: "once", 2: "twice", 3: "three times"}
# The re-read without streaming (agent/call.py), by why it was needed.
UNSTREAMED_RETRY = {
    "refused": "the server cannot stream this request; sending it without streaming, "
    "and every request after it in this session (--no-stream does the same)",
    "empty": "the local server's stream ended with nothing in it; asking again without streaming "
    "to read the server's own error",
}
STREAMING_KEPT_OFF = (
    "the server answered that request without streaming; streaming stays off for this session "
    "(start with --no-stream, or stream = false in the config, to skip the failed attempt)"
)


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
    facts, decision = result.error, result.decision
    where = f"{provider.model} via {provider.name}"
    if facts is None or decision is None:
        return f"the model call to {where} failed. {_kept(result)}"
    what, todo = _what_and_todo(decision.failure, facts, result, provider, where)
    if provider.is_local and decision.failure not in ("auth", "model_not_found", "wrong_url"):
        todo = f"{todo} {_local_hint(result, provider)}"
    return f"{what} {_kept(result)} {todo}"


def _local_hint(result: CallResult, provider: Provider) -> str:
    """A server on this machine has its own log, and its context is often small."""
    size = f"about {result.prompt_estimate:,} tokens by stayline's estimate" if result.prompt_estimate else "its size"
    reported = getattr(provider, "server_context_window", None)  # what the server said, if it did
    window = f"; the server reports a context of {reported:,} tokens" if isinstance(reported, int) else ""
    return f"Look at the server's log for its side of it, and at the prompt size ({size}{window})."


_FALLBACK_HINT = "use a fallback model (--fallback PROVIDER:MODEL)"


def _what_and_todo(
    failure: str, facts: ErrorFacts, result: CallResult, provider: Provider, where: str
) -> tuple[str, str]:
    """What happened, in the user's words, and what to do about it."""
    said = describe(facts)
    if facts.kind == "stale":
        what = f"{facts.message}, {_times(result.stalls)} ({where})."
        return what, f"Try {_FALLBACK_HINT}, asking for the work in smaller pieces, or a longer --stale-timeout."
    if failure == "transient":
        what = f"the connection to {where} failed {_times(result.failed_attempts)}; last: {said}."
        return what, f"Check your network, then say 'continue'; or {_FALLBACK_HINT}."
    if failure == "overloaded":
        reason = result.decision.reason if result.decision else said
        what = f"{where} is overloaded or rate-limited: {reason}."
        return what, f"Wait a little and say 'continue', allow more time with --retry-budget, or {_FALLBACK_HINT}."
    if failure == "auth":
        key = getattr(getattr(provider, "profile", None), "key_env", None)
        return f"{provider.name} refused the credentials ({said}).", (
            f"Check the API key{f' in {key}' if key else ''} or pass --api-key."
        )
    if failure == "model_not_found":
        what = f"model {provider.model!r} was not found at {provider.name} ({said})."
        return what, "Check --model (the provider's model list has the exact id)."
    if failure == "wrong_url":
        url = facts.url or provider.base_url
        what = f"{url} answered {facts.status} Not Found: the base URL is probably wrong ({said})."
        return what, "Check --base-url: an OpenAI-compatible server's usually ends in /v1, an Anthropic one's does not."
    if failure == "context_length":
        return f"the conversation is too long for {where} ({said}).", (
            "Nothing was lost: the whole conversation is kept in the session. Start a new conversation "
            "with /new, or switch to a model with a larger context window with /model."
        )
    if failure == "content_policy":
        return (
            f"{where} refused the request under its content policy ({said}).",
            "Rephrase the request, or use another model.",
        )
    return f"{where} refused the request ({said}).", (
        "This is not retried automatically; if it persists, report it with --trace-stream output."
    )


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
