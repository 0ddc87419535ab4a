"""An app with its own tools: a TODO list the model manages, kept in ``todo.json``.

    python examples/custom_tool.py "Remind me to water the plants, it's urgent"

``@tool`` turns a typed function into a tool: the JSON schema comes from the type hints
(here a dataclass and a ``Literal``), the descriptions from the docstrings. The model
gets only these tools (``tools=[...]`` replaces the built-in file and terminal tools).
Configuration as in ``minimal.py``.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from agent import AIAgent, ToolContext, ToolError, tool

Priority = Literal["low", "normal", "high"]


@dataclass
class Task:
    """A task on the TODO list.

    Args:
        title: What to do, in a few words.
        priority: How urgent it is.
        done: Whether it is finished.
    """

    title: str
    priority: Priority = "normal"
    done: bool = False


def load(ctx: ToolContext) -> list[Task]:
    """The list kept in the agent's working directory (the tools get it from ``ctx``)."""
    path = ctx.workdir / "todo.json"
    return [Task(**item) for item in json.loads(path.read_text())] if path.exists() else []


def save(ctx: ToolContext, tasks: list[Task]) -> None:
    (ctx.workdir / "todo.json").write_text(json.dumps([asdict(t) for t in tasks], indent=2))


@tool(side_effects=True)
def add_task(task: Task, ctx: ToolContext) -> str:
    """Add a task to the TODO list.

    Args:
        task: The task to add.
    """
    tasks = load(ctx)
    if any(t.title == task.title for t in tasks):
        raise ToolError(f"there is already a task called {task.title!r}")  # the model reads this
    save(ctx, [*tasks, task])
    return f"added {task.title!r} ({task.priority})"


@tool(side_effects=True)
def complete_task(title: str, ctx: ToolContext) -> str:
    """Mark a task as done.

    Args:
        title: The exact title of the task.
    """
    tasks = load(ctx)
    for task in tasks:
        if task.title == title:
            task.done = True
            save(ctx, tasks)
            return f"done: {title!r}"
    raise ToolError(f"no task called {title!r}; call list_tasks to see the titles")


@tool
def list_tasks(ctx: ToolContext, show: Literal["open", "done", "all"] = "open") -> list[Task]:
    """List the tasks, most urgent first.

    Args:
        show: Which tasks to list.
    """
    order: list[Priority] = ["high", "normal", "low"]
    tasks = [t for t in load(ctx) if show == "all" or t.done == (show == "done")]
    return sorted(tasks, key=lambda t: order.index(t.priority))  # returned as JSON


TOOLS = [add_task, complete_task, list_tasks]
SYSTEM_PROMPT = "You keep the user's TODO list with your tools. Answer in one or two sentences."


def make_agent(**options: Any) -> AIAgent:
    """The app's agent; tests pass ``provider=ScriptedProvider(...)`` or a simulator's URL."""
    return AIAgent(tools=TOOLS, system_prompt=SYSTEM_PROMPT, **options)


def main(
    prompt: str,
    *,
    base_url: str | None = None,
    api_key: str | None = None,
    model: str | None = None,
    workdir: str | Path = ".",
) -> int:
    with make_agent(base_url=base_url, api_key=api_key, model=model, workdir=workdir) as agent:
        result = agent.run(prompt)
    print(f"status: {result.status}")
    print(result.final_text if result.ok else f"error: {result.error}")
    return 0 if result.ok else 1


if __name__ == "__main__":
    text = " ".join(sys.argv[1:]) or "What is on my TODO list?"
    base_url = os.environ.get("STAYLINE_EXAMPLE_BASE_URL") or None
    sys.exit(main(text, base_url=base_url, api_key=os.environ.get("STAYLINE_EXAMPLE_API_KEY") or None))
