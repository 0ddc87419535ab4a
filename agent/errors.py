"""Exceptions the operator should hear, each with an actionable message.

    StaylineError
    ├── ConfigError        bad flag, environment value or config file entry (exit 2)
    │   └── MissingKeyError   no API key for a provider that needs one (exit 2)
    ├── AgentBusyError     a second turn started on an agent that is mid-turn
    └── SessionWriteError  the session store could not save a message (disk full, locked)

Errors the model should hear (tool failures, invalid arguments) are not exceptions
here: they become tool results. Provider failures end a turn with a typed outcome.
"""

from __future__ import annotations


class StaylineError(Exception):
    """Base of the operator-facing errors."""


class ConfigError(StaylineError):
    """A setting that cannot work. The message names the setting and its source."""


class MissingKeyError(ConfigError):
    """No API key for a provider that needs one; the message names the variable to set."""


class AgentBusyError(StaylineError):
    """A turn was started on an agent that is already running one."""


class SessionWriteError(StaylineError):
    """A message could not be saved to the session store. The write was rolled back and
    the conversation in memory stays valid (every tool call keeps its result); the
    message says what was not saved and what to do."""
