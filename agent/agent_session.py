"""The stored session an agent's conversation lives in (if any), and its stall ledger.

An agent starts in memory only or bound to a session; it can resume another saved
session, start over in a new one, or switch models within it. Each of these changes the
conversation, the binding and the ledger together, so they are done here; the ledger is
saved with the session so a resumed session keeps what it learnt about cut tool calls.
"""

from __future__ import annotations

from pathlib import Path

from agent.context.state import ContextState
from agent.conversation import Conversation
from agent.providers.base import Provider
from agent.recovery.stalls import StallLedger
from agent.session_binding import SessionBinding


class AgentSession:
    """One agent's session binding (None: in memory only) and its stall ledger."""

    def __init__(self, conversation: Conversation, ledger: StallLedger) -> None:
        self.conversation = conversation
        self.ledger = ledger
        self.binding: SessionBinding | None = None

    @property
    def session_id(self) -> str | None:
        """The stored session's id; None when the conversation is kept in memory only."""
        return self.binding.session_id if self.binding else None

    def start(self, which: str, home: Path | None, provider: Provider, workdir: Path) -> None:
        """Bind a new agent ("new", "latest" or an id): a stored history (and ledger)
        replaces the seeded one; an empty session takes the seeded history instead."""
        binding, stored = SessionBinding.open(which, home, provider.name, provider.model, workdir)
        self.binding = binding
        if stored:
            self.conversation.load(stored, binding.load_context())
            self.ledger = binding.load_ledger(self.ledger)
        else:
            for message in self.conversation.full:  # a seeded history is part of the new session
                binding.append(message)

    def resume(self, which: str, home: Path | None, provider: Provider, workdir: Path, ledger: StallLedger) -> None:
        """Switch to a saved session ("latest" or an id): its history, and its ledger over
        ``ledger``. The store is the current one unless ``home`` names another."""
        store_home = home or (self.binding.store.home if self.binding else None)
        binding, stored = SessionBinding.open(which, store_home, provider.name, provider.model, workdir)
        if self.binding is not None:
            self.binding.close()
        self.binding = binding
        self.conversation.load(stored, binding.load_context())
        self.ledger = binding.load_ledger(ledger)

    def renew(self, provider: Provider, workdir: Path) -> None:
        """Start over: an empty conversation, in a new session when sessions are on."""
        self.conversation.load([], ContextState())
        if self.binding is not None:
            self.binding.renew(provider.name, provider.model, workdir)

    def set_model(self, provider: Provider) -> None:
        """Record the model that serves the session from now on."""
        if self.binding is not None:
            self.binding.store.set_model(self.binding.session_id, provider.name, provider.model)

    def save_ledger(self) -> None:
        """Keep the stall ledger with the session (after every turn)."""
        if self.binding is not None:
            self.binding.save_ledger(self.ledger)

    def close(self) -> None:
        """Release the session store."""
        if self.binding is not None:
            self.binding.close()
