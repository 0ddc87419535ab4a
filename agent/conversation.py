"""One agent's conversation: the full history beside the working history the model sees.

The full history is every message as it happened; the working history is the same
conversation after trimming and compaction (``agent/context``). New messages go to both;
the context keeper changes only the working one, and its state (saved with the session)
is what turns the full history back into the working one, on resume and after ``undo``.
"""

from __future__ import annotations

from collections.abc import Callable

from agent.config import CompactionSettings
from agent.context.keeper import ContextKeeper
from agent.context.state import ContextState, last_user_turn, unmirrored, working_history
from agent.messages import Message
from agent.providers.base import ModelRequest, Provider, ToolSpec
from agent.session_binding import SessionBinding
from tools.base import ToolRegistry


class Conversation:
    """The two histories, the keeper, and the session they are saved in (if any)."""

    def __init__(
        self, settings: CompactionSettings, history: list[Message], session: Callable[[], SessionBinding | None]
    ) -> None:
        self.full = list(history)  # every message, as it happened
        self.working = list(history)  # what the model sees (stubbed, compacted)
        self._session = session
        self.keeper = ContextKeeper(settings, persist=self._save_context)

    def load(self, full: list[Message], state: ContextState) -> None:
        """Take a conversation: its full history, and the state that gives the working one."""
        self.full = full
        self.keeper.reset(state)
        self.working = working_history(full, state)

    def replace(self, full: list[Message], state: ContextState) -> None:
        """Take a conversation and store it (a replaced history, an undo)."""
        self.load(full, state)
        session = self._session()
        if session is not None:
            session.rewrite(full, state)

    def keep(self, message: Message) -> None:
        """Save a new message, then add it to the full history (the loop adds it to the
        working history)."""
        session = self._session()
        if session is not None:
            session.append(message)
        self.full.append(message)

    def undo(self) -> str | None:
        """Remove the last turn from both histories; what the model saw before it comes
        back, across any compaction since. Returns the turn's text."""
        index = last_user_turn(self.full)
        if index is None:
            return None
        text = self.full[index].text
        self.replace(self.full[:index], self.keeper.state.undone(index))
        return text

    def settle(self) -> None:
        """After a turn: messages kept in memory only (a session write failed) join the
        full history too."""
        self.full.extend(unmirrored(self.full, self.working, self.keeper.state))

    def usage(self, provider: Provider, system: str, tools: ToolRegistry) -> dict[str, int | float]:
        """How full ``provider``'s window is with the working history as it stands."""
        specs = [ToolSpec(t.name, t.description, t.schema) for t in tools]
        request = ModelRequest(model=provider.model, system=system, messages=self.working, tools=specs)
        return self.keeper.usage(request, provider)

    def _save_context(self, state: ContextState) -> None:
        session = self._session()
        if session is not None:
            session.save_context(state)
