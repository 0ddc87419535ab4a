"""Ties an agent's conversation to the SQLite session store.

Every message is committed as it completes, so a crash loses at most the message in
flight; the stall ledger is saved with the session so a resumed session keeps it. The
messages are the full history; the context state saved beside them (compaction
summaries, stubbed tool results) turns it into the working history the model sees.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path

from agent.context.state import ContextState
from agent.errors import ConfigError, SessionWriteError
from agent.messages import Message
from agent.recovery.stalls import StallLedger
from agent.sessions import SessionStore, SessionStoreError

LEDGER_KEY = "stall_ledger"
CONTEXT_KEY = "context"  # the compactions and stubs that make the working history
_FIX = "Check that the disk has room, the file is writable and no other program holds it locked, then go on."
log = logging.getLogger(__name__)


def stayline_home() -> Path:
    return Path(os.environ.get("STAYLINE_HOME") or Path.home() / ".stayline")


class SessionBinding:
    def __init__(self, store: SessionStore, session_id: str) -> None:
        self.store = store
        self.session_id = session_id

    @classmethod
    def open(
        cls, which: str, home: Path | None, provider: str, model: str, workdir: Path
    ) -> tuple[SessionBinding, list[Message]]:
        """``which`` is "new", "latest" or a session id; returns the binding and the
        history to start from."""
        try:
            store = SessionStore(home or stayline_home())
        except (OSError, SessionStoreError) as exc:
            raise ConfigError(f"cannot open the session store: {exc}") from None
        if which == "new":
            return cls(store, store.create(model, provider, str(workdir))), []
        info = store.latest() if which == "latest" else store.get(which)
        if info is None:
            store.close()
            what = "no session to continue yet" if which == "latest" else f"no session with id {which!r}"
            raise ConfigError(f"{what}; `stayline sessions` lists them")
        return cls(store, info.id), store.load(info.id)

    def append(self, message: Message) -> None:
        """Save one message; a failed write was rolled back and raises SessionWriteError."""
        try:
            self.store.append(self.session_id, message)
        except (sqlite3.Error, OSError, SessionStoreError) as exc:
            raise SessionWriteError(
                f"could not save the conversation to {self.store.path} ({exc}); the write was rolled back "
                "and nothing in the conversation was lost in memory, but the stored session stops "
                "before this message. " + _FIX
            ) from exc

    def tool_started(self, call_id: str) -> None:
        """Mark the call that is about to run (see ``SessionStore.mark_running``)."""
        try:
            self.store.mark_running(self.session_id, call_id)
        except (sqlite3.Error, OSError, SessionStoreError) as exc:
            raise SessionWriteError(
                f"could not save the conversation to {self.store.path} ({exc}) before running a tool; "
                "the tool was not run. " + _FIX
            ) from exc

    def rewrite(self, history: list[Message], context: ContextState | None = None) -> None:
        """Store exactly ``history`` (``/undo``, a replaced history), and its context state."""
        self.store.replace_messages(self.session_id, history)
        if context is not None:
            self.save_context(context)

    def save_ledger(self, ledger: StallLedger) -> None:
        """Keep the stall ledger with the session; a failure costs only its memory."""
        try:
            self.store.set_state(self.session_id, LEDGER_KEY, ledger.to_dict())
        except (sqlite3.Error, OSError, SessionStoreError) as exc:
            log.warning("session %s: the stall ledger was not saved: %s", self.session_id, exc)

    def load_ledger(self, default: StallLedger) -> StallLedger:
        data = self.store.get_state(self.session_id, LEDGER_KEY)
        if data is None:
            return default
        try:
            return StallLedger.from_dict(data)
        except (KeyError, TypeError, ValueError):
            return default  # an unreadable ledger costs only its memory, never the session

    def save_context(self, state: ContextState) -> None:
        """Keep the context state beside the full history: together they give the
        working history the model sees (``agent.context.state.working_history``)."""
        try:
            self.store.set_state(self.session_id, CONTEXT_KEY, state.to_dict())
        except (sqlite3.Error, OSError, SessionStoreError) as exc:
            raise SessionWriteError(
                f"could not save the conversation's compaction to {self.store.path} ({exc}); the conversation "
                "in memory is whole. Free disk space or fix the file's permissions, then go on."
            ) from exc

    def load_context(self) -> ContextState:
        data = self.store.get_state(self.session_id, CONTEXT_KEY)
        if data is None:
            return ContextState()
        try:
            return ContextState.from_dict(data)
        except (KeyError, TypeError, ValueError, AttributeError):
            # Unreadable: the model sees the full history, which the next request compacts again.
            return ContextState()

    def renew(self, provider: str, model: str, workdir: Path) -> None:
        self.session_id = self.store.create(model, provider, str(workdir))

    def close(self) -> None:
        self.store.close()
