"""Test helpers: real wire bytes parsed by the real SDKs, without a network."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import anthropic
import httpx2
import openai
from anthropic.types import RawMessageStreamEvent
from openai.types.chat import ChatCompletionChunk

from agent.providers import anthropic_messages, chat_completions
from agent.providers.deltas import Delta
from agent.streaming.accumulator import Accumulator, ResponseSnapshot

SAMPLES = Path(__file__).resolve().parent / "fixtures" / "wire-samples"


def sample_bytes(name: str) -> bytes:
    """A recorded body. The published fixtures were trimmed of the blank line that ends
    the last SSE event on the wire; without it no decoder dispatches that event."""
    data = (SAMPLES / name).read_bytes()
    return data if data.endswith(b"\n\n") else data.rstrip(b"\n") + b"\n\n"


def fragments(data: bytes, seed: int) -> Iterator[bytes]:
    """The same bytes cut at random places (as a network would deliver them)."""
    rng = random.Random(seed)
    position = 0
    while position < len(data):
        size = rng.randint(1, 40)
        yield data[position : position + size]
        position += size


def _response(chunks: Iterator[bytes]) -> httpx2.Response:
    request = httpx2.Request("POST", "http://sample.invalid/")
    return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=chunks, request=request)


def sdk_deltas(wire: str, data: bytes, seed: int | None = None) -> list[Delta]:
    chunks = fragments(data, seed) if seed is not None else iter([data])
    if wire == "anthropic_messages":
        client = anthropic.Anthropic(api_key="test")
        stream = anthropic.Stream(cast_to=RawMessageStreamEvent, response=_response(chunks), client=client)
        return list(anthropic_messages.stream_deltas(stream))
    oclient = openai.OpenAI(api_key="test")
    ostream = openai.Stream(cast_to=ChatCompletionChunk, response=_response(chunks), client=oclient)
    return list(chat_completions.stream_deltas(ostream))


def accumulate(wire: str, deltas: list[Delta]) -> ResponseSnapshot:
    accumulator = Accumulator(wire)
    for delta in deltas:
        accumulator.apply(delta)
    return accumulator.snapshot()
