"""What an agent's tools may reach: the working directory, the sandbox around commands,
the approval of dangerous actions, and an environment without the provider keys.

``ToolAccess`` checks the sandbox once, when the agent is made (a ``ConfigError`` says
why it cannot work here), and builds each turn's ``ToolContext``: the credentials held so
far are kept out of the terminal's environment and redacted from every result.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from agent.config import Settings
from agent.credentials import CredentialGuard
from agent.errors import ConfigError
from tools.base import ToolContext
from tools.sandbox import Sandbox, sandbox_problem

Approver = Callable[[str, str], bool]


class ToolAccess:
    """The tool side of one agent: ``context(settings)`` gives a turn's ``ToolContext``."""

    def __init__(self, workdir: Path, settings: Settings, approve: Approver | None) -> None:
        self.workdir = workdir
        self.sandbox = _checked_sandbox(settings, workdir)
        self._credentials = CredentialGuard()
        self._approve = approve

    def context(self, settings: Settings) -> ToolContext:
        """The tools' view for a turn run with ``settings``."""
        secrets = self._credentials.for_turn(settings)
        return ToolContext(
            self.workdir,
            approve=self._approval(settings),
            environment=secrets.environment,
            redact=secrets.redact,
            sandbox=self.sandbox,
        )

    def _approval(self, settings: Settings) -> Approver:
        if self._approve is not None:
            return self._approve
        allow = settings.approval == "yolo"
        return lambda tool, action: allow


def _checked_sandbox(settings: Settings, workdir: Path) -> Sandbox | None:
    """The terminal's sandbox when the settings ask for one; ConfigError when it cannot work here."""
    if not settings.sandbox:
        return None
    sandbox = Sandbox(network=settings.sandbox_network)
    problem = sandbox_problem(sandbox, workdir)
    if problem is not None:
        raise ConfigError(problem)
    return sandbox
