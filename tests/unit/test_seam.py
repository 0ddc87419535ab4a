"""The seam between the text already shown and a continued reply: nothing shows twice."""

from __future__ import annotations

import pytest

from agent.streaming.seam import SeamJoiner


def join(shown: str, pieces: list[str]) -> tuple[str, int]:
    joiner = SeamJoiner(shown)
    new = "".join(joiner.feed(piece) for piece in pieces) + joiner.finish()
    return shown + new, joiner.dropped


@pytest.mark.parametrize(
    ("shown", "pieces", "joined"),
    [
        # exact continuations pass through untouched
        ("The quick brown", [" fox", " jumps"], "The quick brown fox jumps"),
        ("The cat sat. The", [" dog ran"], "The cat sat. The dog ran"),
        ("Hello", [" world"], "Hello world"),
        # the whitespace the shown text ended with, repeated
        ("Hello ", ["world."], "Hello world."),
        ("Hello ", [" world."], "Hello world."),
        ("a\n\n", ["\n", "\nb"], "a\n\nb"),
        # a repeated tail, whole words or the word that was cut
        ("The quick brown", ["brown", " fox"], "The quick brown fox"),
        ("The quick bro", ["brown fox"], "The quick brown fox"),
        ("I think", ["think the answer"], "I think the answer"),
        ("Intro: The answer is", [" The answer is 42"], "Intro: The answer is 42"),
        # a restart from the beginning, in any chunking
        ("The quick brown", ["The qu", "ick brown fox jumps."], "The quick brown fox jumps."),
        ("The quick bro", ["The quick brown fox"], "The quick brown fox"),
        ("Hello ", ["Hello world"], "Hello world"),
        # a repeat that ends exactly at a chunk boundary still drops the repeated space after it
        ("One. Two. ", ["Two.", " Three."], "One. Two. Three."),
        # a restart that stops short of the shown text repeats only
        ("The answer", ["The ans"], "The answer"),
        # a coincidental last letter is not a repeat
        ("The quick brown", ["n fox"], "The quick brownn fox"),
    ],
)
def test_joins(shown: str, pieces: list[str], joined: str) -> None:
    assert join(shown, pieces)[0] == joined


def test_counts_what_it_dropped() -> None:
    assert join("The quick brown", ["The quick brown fox"])[1] == len("The quick brown")
    assert join("The quick brown", [" fox"])[1] == 0


def test_nothing_shown_means_nothing_held() -> None:
    joiner = SeamJoiner("")
    assert joiner.feed("Hi") == "Hi" and not joiner.holding


def test_text_is_held_only_while_it_could_still_be_a_repeat() -> None:
    joiner = SeamJoiner("The quick brown fox")
    assert joiner.feed("The") == "" and joiner.holding  # could be a restart
    assert joiner.feed(" lazy dog") == "The lazy dog"  # it diverged: released at once


def test_an_empty_block_boundary_decides_nothing() -> None:
    joiner = SeamJoiner("The quick brown")
    assert joiner.finish() == ""  # a block ended before any text: still undecided
    assert joiner.feed("The quick brown fox") == " fox"
