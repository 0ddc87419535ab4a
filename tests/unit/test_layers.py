"""Every import arrow points down the layers (docs/architecture.md draws them).

A module may import modules of its own layer or below, never above: the loop never
reaches into the CLI, a provider never into the retry policy, the tools never into the
agent. The simulator (``agent.testing``) plays the servers from the wire's side, so it may
use only the layers up to the wire types.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Bottom to top. A name matches a module or a whole package (longest prefix wins).
LAYERS: list[tuple[str, ...]] = [
    ("agent.errors", "agent.messages", "agent.usage", "agent.pricing", "agent.events", "agent.prompts", "agent.repair"),
    ("agent.models", "agent.config"),
    ("agent.providers",),
    ("agent.streaming",),
    ("agent.cost", "agent.continuation"),
    ("agent.recovery",),
    ("agent.call",),
    ("agent.context", "agent.turn_state"),
    ("agent.tool_round", "agent.loop"),
    (
        "agent.sessions",
        "agent.session_binding",
        "agent.agent_session",
        "agent.conversation",
        "agent.credentials",
        "agent.tool_access",
        "agent.assembly",
        "agent.trace",
        "agent.result",
        "agent.config_file",
        "agent.config_reader",
    ),
    ("agent.agent", "agent"),
    ("agent.cli", "agent.batch"),
]
SIDE = {"agent.testing": 3}  # the simulator: up to the streaming layer's wire types


def _rank(module: str) -> int:
    best, rank = "", -1
    for index, names in enumerate(LAYERS):
        for name in names:
            if (module == name or module.startswith(name + ".")) and len(name) > len(best):
                best, rank = name, index
    for name, side_rank in SIDE.items():
        if (module == name or module.startswith(name + ".")) and len(name) > len(best):
            best, rank = name, side_rank
    assert rank >= 0, f"{module} is in no layer: add it to LAYERS (and to docs/architecture.md)"
    return rank


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[str]:
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
    return found


def test_every_import_points_down_the_layers() -> None:
    upward = []
    for path in sorted((ROOT / "agent").rglob("*.py")):
        module = _module_name(path)
        own = _rank(module)
        for target in _imports(path):
            if target.startswith("agent") and target != "agent" and _rank(target) > own:
                upward.append(f"{module} (layer {own}) imports {target} (layer {_rank(target)})")
    assert upward == []


def test_tools_import_nothing_of_the_agent() -> None:
    offenders = [
        f"{_module_name(path)} imports {target}"
        for path in sorted((ROOT / "tools").rglob("*.py"))
        for target in _imports(path)
        if target == "agent" or target.startswith("agent.")
    ]
    assert offenders == []


def test_the_layer_map_names_only_modules_that_exist() -> None:
    for names in LAYERS:
        for name in names:
            path = ROOT / Path(*name.split("."))
            assert path.with_suffix(".py").exists() or (path / "__init__.py").exists(), name
