"""Why a task did not complete, as a short cause the summary groups failures by.

Turn failures carry the agent's actionable message (``agent/recovery/messages.py`` and
the loop); the cause is read from it by the phrases below, in order. Failures of the
batch machinery itself (a lost worker, a task that could not be set up) get their cause
where they happen.
"""

from __future__ import annotations

INTERRUPTED = "interrupted"
SETUP = "setup"  # the task's agent could not be built (no key, unknown provider, bad workdir)
WORKER_LOST = "worker_lost"  # the process running the task died
CRASHED = "crashed"  # an unexpected error in the runner itself (a bug: please report it)
OTHER = "other"

_PHRASES: tuple[tuple[str, str], ...] = (
    ("every provider in the fallback chain failed", "fallbacks_exhausted"),
    ("was cut off", "cut_tool_call"),
    ("sent nothing for", "stalled"),
    ("stalls in a row", "stalled"),
    ("overloaded or rate-limited", "rate_limited"),
    ("refused the credentials", "auth"),
    ("was not found at", "model_not_found"),
    ("too long for", "context_length"),
    ("content policy", "refused"),
    ("refused to answer", "refused"),
    ("content filter", "refused"),
    ("iteration cap", "iteration_cap"),
    ("output limit", "output_limit"),
    ("the connection to", "connection"),
    ("refused the request", "bad_request"),
)


def failure_cause(status: str, error: str | None) -> str | None:
    """The cause of a result that is not ``completed`` (None for a completed one)."""
    if status == "completed":
        return None
    if status == "interrupted":
        return INTERRUPTED
    lowered = (error or "").lower()
    for phrase, cause in _PHRASES:
        if phrase in lowered:
            return cause
    return OTHER
