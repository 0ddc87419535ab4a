"""A provider that is busy for a while, the ways real ones say so.

``BusyWindow`` is a simulator behaviour: for ``seconds`` after the first request it
answers every request with an overload or rate-limit error, telling the client when to
come back in one of the forms real servers and gateways use, then it hands over to
``then``. The advice always names the time left in the window, rounded up.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from agent.testing.script import HttpError, Outcome, RecordedRequest, Reply, Text

Advice = Literal["retry-after", "retry-after-ms", "litellm", "text", "none"]
Clock = Callable[[], float]


@dataclass
class BusyWindow:
    """429 (or 529, 503...) for ``seconds``, then ``then``; see the module docstring.

    ``advice``: "retry-after" (seconds), "retry-after-ms", "litellm" (only the
    ``llm_provider-retry-after`` header a LiteLLM proxy forwards), "text" ("Please try
    again in N seconds." in the message only) or "none".
    """

    seconds: float
    status: int = 429
    advice: Advice = "retry-after"
    then: Callable[[RecordedRequest], Outcome] = field(default=lambda request: Reply(Text("Done waiting.")))
    clock: Clock = time.monotonic
    busy_answers: int = 0
    _started: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request: RecordedRequest) -> Outcome:
        with self._lock:
            now = self.clock()
            self._started = now if self._started is None else self._started
            left = self.seconds - (now - self._started)
            if left <= 0:
                return self.then(request)
            self.busy_answers += 1
        return self._busy(left)

    def _busy(self, left: float) -> HttpError:
        wait = max(1, math.ceil(left))
        message = "Rate limit exceeded." if self.status == 429 else "Overloaded"
        headers: dict[str, str] = {}
        if self.advice == "retry-after":
            headers["retry-after"] = str(wait)
        elif self.advice == "retry-after-ms":
            headers["retry-after-ms"] = str(int(left * 1000) + 1)
        elif self.advice == "litellm":
            headers["llm_provider-retry-after"] = str(wait)
        elif self.advice == "text":
            message += f" Please try again in {wait} seconds."
        return HttpError(self.status, message, headers=headers)  # the error type is each wire's own
