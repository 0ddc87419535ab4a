"""Which shell commands need the user's approval before the terminal tool runs them.

This is a tripwire for the model's honest mistakes, not a sandbox: a determined
adversary can always build a command at run time. It errs on the side of asking, since
a false positive costs one approval prompt and a false negative can cost the disk.

Matching works on a normalised command: backslashes and quotes are removed (so
``'rm' -rf /`` and ``r"m" -rf /`` read as ``rm -rf /``), whitespace is collapsed, the
line is split into simple commands at ``;``, ``&&``, ``|``, ``$(`` and friends, and
wrappers such as ``env``, ``nohup``, ``xargs`` or ``bash -c`` are stripped from the
front of each. "command" rules then see each simple command starting at its command
name, so ``echo sudo`` is harmless while ``nohup sudo ...`` is not; "line" rules
(pipes, redirections) see the whole normalised line.
"""

from __future__ import annotations

import re
from typing import Literal, NamedTuple

__all__ = ["dangerous_reason", "normalise", "simple_commands"]

# A path argument that reaches outside the working directory: absolute, home,
# a variable (it may expand to anything, even empty), or a ".." component.
_OUTSIDE = r"(?:[/~$]|(?:\S*/)?\.\.(?:/|\s|$))"
_RECURSIVE = r"(?=.*\s(?:-[a-zA-Z]*{letters}[a-zA-Z]*|--recursive)(?:\s|$))"
_SHELL = r"(?:\S*/)?(?:ba|z|da|k)?sh\b"
# Python runs stdin as a program only when given no script ("python" or "python -"),
# so "curl ... | python -m json.tool" stays harmless.
_PYTHON_STDIN = r"(?:\S*/)?python[\d.]*(?:\s+-)?(?=\s*(?:$|[;&|]))"


class _Rule(NamedTuple):
    scope: Literal["command", "line"]
    pattern: re.Pattern[str]
    reason: str


def _rule(scope: Literal["command", "line"], pattern: str, reason: str) -> _Rule:
    return _Rule(scope, re.compile(pattern), reason)


# The one table. Order only decides which reason is reported when several apply,
# so the specific rules come before the general "runs as root".
_RULES: tuple[_Rule, ...] = (
    _rule(
        "command",
        r"^rm\b" + _RECURSIVE.format(letters="[rR]") + rf"(?=.*\s{_OUTSIDE})",
        "recursive delete of a path outside the working directory",
    ),
    _rule(
        "line",
        r"(?:^|[;&|]\s*)cd\s+[/~$].*\brm\s+(?:-\S*\s+)*-[a-zA-Z]*[rR]",
        "recursive delete after changing to a directory outside the working directory",
    ),
    _rule(
        "command",
        r"^find\s+" + _OUTSIDE + r".*\s-delete\b",
        "deletes files outside the working directory",
    ),
    _rule("command", r"^(?:mkfs(?:\.\w+)?|mke2fs|mkswap|wipefs)\b", "formats or wipes a filesystem"),
    _rule("command", r"^dd\b.*\bof=/dev/(?!null\b)", "writes raw data to a device"),
    _rule("line", r">\s*/dev/(?:sd|hd|vd|xvd|nvme|mmcblk|disk)", "overwrites a disk device"),
    _rule(
        "command",
        r"^ch(?:mod|own|grp)\b" + _RECURSIVE.format(letters="R") + rf"(?=.*\s{_OUTSIDE})",
        "recursively changes permissions or ownership outside the working directory",
    ),
    _rule(
        "line",
        rf"\b(?:curl|wget)\b.*\|\s*(?:(?:sudo|env|command)\s+)*(?:{_SHELL}|{_PYTHON_STDIN})",
        "pipes a downloaded script straight into a shell",
    ),
    _rule(
        "line",
        r"(?:^|\s|;)" + _SHELL + r".*(?:<\(|\$\()\s*(?:curl|wget)\b",
        "runs a downloaded script",
    ),
    _rule(
        "line",
        r"([\w:.]+)\s*\(\)\s*\{\s*\1\s*\|\s*\1\s*&\s*\}\s*;\s*\1",
        "is a fork bomb",
    ),
    _rule("command", r"^(?:sudo|doas|su|pkexec)\b", "runs a command with root privileges"),
    _rule(
        "command",
        r"^git\b.*\spush\b.*\s(?:--force\S*|-[a-zA-Z]*f[a-zA-Z]*|\+\S+)(?:\s|$)",
        "force-pushes, which can overwrite history on the remote",
    ),
    _rule(
        "command",
        r"^(?:shutdown|reboot|halt|poweroff)\b|^systemctl\s+(?:reboot|poweroff|halt|kexec)\b|^init\s+[06]\b",
        "shuts down or reboots the machine",
    ),
)

# Words that run the rest of the line as a command. Their options are skipped too.
_WRAPPERS = frozenset(
    {"env", "command", "builtin", "exec", "nohup", "nice", "ionice", "timeout", "xargs", "stdbuf"}
    | {"setsid", "busybox", "eval", "time", "watch", "sh", "bash", "zsh", "dash", "ksh", "fish"}
)
_KEYWORDS = frozenset({"then", "do", "else", "elif", "if", "while", "until", "!", "{", "}"})
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=\S*")
_WRAPPER_ARG = re.compile(r"-\S*|\d+(?:\.\d+)?[smhd]?|\{\}")  # options, durations, xargs' {}
_SEPARATORS = re.compile(r"\|\||&&|[;|&`]|\$\(|[<>]\(")


def dangerous_reason(command: str) -> str | None:
    """Why ``command`` needs approval, or None when it looks harmless."""
    line = normalise(command)
    commands = simple_commands(line)
    for rule in _RULES:
        texts = [line] if rule.scope == "line" else commands
        if any(rule.pattern.search(text) for text in texts):
            return rule.reason
    return None


def normalise(command: str) -> str:
    """Undo the quoting and escaping tricks that hide a command name from a regex."""
    text = command.replace("\\\n", "")  # a line continuation joins words
    text = text.replace("\n", " ; ")  # a newline separates commands
    text = re.sub(r"\$\{?IFS\}?", " ", text)
    text = re.sub(r"\$(?=['\"])", "", text)  # $'...' and $"..." quoting
    text = text.replace("\\", "").replace("'", "").replace('"', "")
    return " ".join(text.split())


def simple_commands(line: str) -> list[str]:
    """Each simple command of a normalised line, wrappers stripped, name first."""
    result: list[str] = []
    for segment in _SEPARATORS.split(line):
        words = _strip_wrappers(segment.replace("(", " ").replace(")", " ").split())
        if words:
            result.append(" ".join([_basename(words[0]), *words[1:]]))
    return result


def _strip_wrappers(words: list[str]) -> list[str]:
    index = 0
    while index < len(words):
        word = words[index]
        if word in _KEYWORDS or _ASSIGNMENT.fullmatch(word):
            index += 1
        elif _basename(word) in _WRAPPERS:
            index += 1
            while index < len(words) and (_WRAPPER_ARG.fullmatch(words[index]) or _ASSIGNMENT.fullmatch(words[index])):
                index += 1
        else:
            break
    return words[index:]


def _basename(word: str) -> str:
    return word.rsplit("/", 1)[-1] or word  # /bin/rm -> rm, but "/" stays "/"
