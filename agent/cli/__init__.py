"""The ``stayline`` command line: single shot (``-q``, piped stdin) and the chat.

Kept import-light: see ``agent.cli.main`` for why heavy modules load lazily. The exit
codes and the whole-number flag type live here so every part of the CLI shares them.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for Ctrl+C


def whole_number(minimum: int) -> Callable[[str], int]:
    """An argparse type: a whole number of at least ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(
                f"{text} is negative" if minimum == 0 else f"{text} must be at least {minimum}"
            )
        return value

    return parse
