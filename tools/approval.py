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
_RM_RECURSIVE = r"rm\s+(?:-\S*\s+)*(?:-[a-zA-Z]*[rR]|--recursive)"
_SHELL = r"(?:\S*/)?(?:ba|z|da|k)?sh\b"
# An interpreter runs stdin as a program only when given no script ("python" or
# "python -"), so "curl ... | python -m json.tool" stays harmless.
_STDIN_PROGRAM = r"(?:\S*/)?(?:python[\d.]*|node|nodejs|perl|ruby|php|lua)(?:\s+-)?(?=\s*(?:$|[;&|)]))"
# A shell reads its script from stdin unless given -c or a script file.
_SHELL_STDIN = _SHELL + r"(?:\s+-(?![a-zA-Z]*c)[a-zA-Z]+)*(?:\s+--(?:\s[^;&|]*)?)?(?=\s*(?:$|[;&|)]))"
_RUNNERS = r"(?:(?:sudo|env|command|exec|xargs)\s+)*"
_COMMAND_START = r"(?:^|[;&|(]\s*|\b(?:then|do|else|if|while|until|sudo|env|exec|command|nohup|xargs|time)\s+)"
# A ".git" path component: .git, sub/.git/hooks/x (not .gitignore, not repo.git).
_GIT_PATH = r"(?:^|[\s=])(?:\S*/)?\.git(?:/\S*)?(?=\s|$)"
_GIT = r"^git\b(?:\s+-\S+(?:\s+[^-\s]\S*)?)*\s+"  # git and its global options (-C DIR, -c k=v)
_DISCARDS = "discards uncommitted changes"
_CREDENTIALS = (
    r"(?:~|\$\{?HOME\}?|/home/[^/\s]+|/root)/\.(?:ssh|gnupg|netrc|git-credentials|pgpass|aws|azure|kube|docker)\b"
    r"|\.config/(?:gh|gcloud|hub)\b|\bid_(?:rsa|dsa|ecdsa|ed25519)(?:_sk)?\b(?!\.pub)|/proc/[^/\s]+/environ\b"
)


class _Rule(NamedTuple):
    scope: Literal["command", "line"]
    pattern: re.Pattern[str]
    reason: str


def _rule(scope: Literal["command", "line"], pattern: str, reason: str) -> _Rule:
    return _Rule(scope, re.compile(pattern), reason)


# The one table. Order only decides which reason is reported when several apply,
# so the specific rules come before the general ones ("runs as root", "pipes into a shell").
_RULES: tuple[_Rule, ...] = (
    _rule(
        "command",
        r"^(?:rm|rmdir|unlink|shred|truncate|mv|cp|ln|tee|install|chmod|chown|sed|perl|dd|touch)\b.*" + _GIT_PATH,
        "writes or deletes git's internal files (.git: history, hooks that run on your next commit)",
    ),
    _rule("line", r">>?\|?\s*(?:\S*/)?\.git(?:/|\s|$)", "writes into git's internal files (.git)"),
    _rule(
        "command",
        r"^rm\b" + _RECURSIVE.format(letters="[rR]") + rf"(?=.*\s{_OUTSIDE})",
        "recursive delete of a path outside the working directory",
    ),
    _rule(
        "line",
        r"(?:^|[;&|(]\s*)(?:\S*/)?xargs\b[^;&|]*?\s(?:\S*/)?" + _RM_RECURSIVE,
        "recursive delete of paths read from input, which cannot be checked",
    ),
    _rule(
        "line",
        r"(?:^|[;&|(]\s*)(?:cd|pushd)(?:\s+(?:[/~$]|-(?=[\s;&|]|$)|(?:\S*/)?\.\.(?=[/\s;&|]|$))|(?=\s*(?:[;&|]|$)))"
        r".*\b" + _RM_RECURSIVE,
        "recursive delete after changing to a directory outside the working directory",
    ),
    _rule(
        "command",
        r"^find\s+(?:-[HLP]\s+)*"
        + _OUTSIDE
        + r".*\s(?:-delete\b|-(?:exec|execdir|ok|okdir)\s+(?:\S*/)?(?:rm|shred|unlink)\b)",
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
        rf"\b(?:curl|wget)\b.*\|\s*{_RUNNERS}(?:{_SHELL}|{_STDIN_PROGRAM})",
        "pipes a downloaded script straight into a shell or interpreter",
    ),
    _rule(
        "line",
        r"(?:^|[\s;&|(])(?:" + _SHELL + r"|eval|source|\.|python[\d.]*|node|perl|ruby|php)\s.*(?:<\(|\$\(|`)\s*"
        r"(?:curl|wget)\b",
        "runs a downloaded script",
    ),
    _rule(
        "line",
        rf"\|\s*{_RUNNERS}(?:{_SHELL_STDIN}|{_STDIN_PROGRAM})",
        "runs text piped into a shell or interpreter as a program",
    ),
    _rule(
        "line",
        r"([\w:.]+)\s*\(\)\s*\{\s*\1\s*\|\s*\1\s*&\s*\}\s*;\s*\1",
        "is a fork bomb",
    ),
    _rule(
        "line",
        _COMMAND_START + r"(?:\$\(|`)",
        "runs a command whose name is computed when it runs, so it cannot be checked",
    ),
    _rule(
        "command",
        r"^curl\b.*\s(?:(?:-d|--data(?:-binary|-raw|-urlencode|-ascii)?|--json)(?:\s+|=)?@"
        r"|(?:-F|--form)(?:\s+|=)?\S*=[@<]|(?:-T|--upload-file)(?:\s+|=)?\S)"
        r"|^wget\b.*\s--(?:post|body)-file\b",
        "sends a local file over the network",
    ),
    _rule("line", _CREDENTIALS, "reads or sends a credentials file (SSH keys, cloud or registry tokens, environ)"),
    _rule("command", r"^(?:sudo|doas|su|pkexec)\b", "runs a command with root privileges"),
    _rule(
        "command",
        r"^kill\s+\S+(?:\s+\S+)*?\s+-1(?=\s|$)|^killall5\b|^(?:pkill|killall)\b.*\s(?:-u|--user)\b",
        "sends a signal to every process you can reach",
    ),
    _rule(
        "command",
        _GIT + r"push\b.*\s(?:--force\S*|-[a-zA-Z]*f[a-zA-Z]*|\+\S+)(?:\s|$)",
        "force-pushes, which can overwrite history on the remote",
    ),
    _rule(
        "command",
        _GIT + r"push\b(?:.*\s(?:--delete|-d)(?:\s|$)|\s+\S+\s+:\S)",
        "deletes a branch or tag on the remote",
    ),
    _rule("command", _GIT + r"reset\b.*\s--hard\b", f"{_DISCARDS} (git reset --hard)"),
    _rule(
        "command",
        _GIT + r"(?:checkout|switch)\b(?:.*\s(?:-f|--force|--discard-changes)(?=\s|$)|.*\s(?:--|\.)(?=\s|$))",
        f"{_DISCARDS} (git checkout of files)",
    ),
    _rule(
        "command",
        _GIT + r"restore\b(?!(?=.*\s(?:--staged|-S)(?:\s|$))(?!.*\s(?:--worktree|-W)(?:\s|$)))",
        f"{_DISCARDS} (git restore)",
    ),
    _rule(
        "command",
        _GIT + r"clean\b(?=.*\s(?:-[a-zA-Z]*f[a-zA-Z]*|--force)(?:\s|$))",
        "deletes untracked files, which git cannot bring back (git clean)",
    ),
    _rule("command", _GIT + r"stash\s+(?:drop|clear)\b", "deletes stashed changes"),
    _rule(
        "command",
        _GIT + r"branch\b(?:.*\s-[a-zA-Z]*D|(?=.*\s(?:-d|--delete)(?:\s|$))(?=.*\s(?:-f|--force)(?:\s|$)))",
        "force-deletes a branch, losing commits not merged elsewhere",
    ),
    _rule(
        "command",
        _GIT + r"(?:filter-branch|filter-repo|replace)\b|" + _GIT + r"update-ref\b",
        "rewrites history or moves branches directly",
    ),
    _rule(
        "command",
        _GIT + r"(?:reflog\s+(?:expire|delete)|gc\b.*--prune)\b",
        "throws away what git needs to recover lost commits (reflog, unreachable objects)",
    ),
    _rule(
        "command",
        _GIT + r"config\b.*\s(?i:core\.(?:hookspath|fsmonitor|sshcommand|pager|editor|askpass)|alias\.\S+\s+!)",
        "sets a git option that runs a program",
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
# A program looked up by name where a command name goes: $(which X), `command -v X`...
_LOOKUP = re.compile(r"(?:\$\(|`)\s*(?:which|command\s+-v|type\s+-[pP]|whereis\s+-b)\s+([\w.+-]+)\s*(?:\)|`)")
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
    text = _LOOKUP.sub(r" \1 ", text)  # $(which sudo) rm ... runs sudo
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
