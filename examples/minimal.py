"""Run one prompt and print the status and the answer.

    python examples/minimal.py "What is in this directory?"

The provider comes from the environment, as for the ``stayline`` command: the first of
ANTHROPIC_API_KEY, OPENROUTER_API_KEY, OPENAI_API_KEY that is set (STAYLINE_PROVIDER and
STAYLINE_MODEL choose explicitly). With STAYLINE_EXAMPLE_BASE_URL set, the prompt goes to
that endpoint instead: an OpenAI-compatible server (Ollama, vLLM, llama.cpp...) or, for a
URL ending in ``/anthropic``, an Anthropic-compatible one. Name the model with
STAYLINE_MODEL; STAYLINE_EXAMPLE_API_KEY is sent as the key when set.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from agent import AIAgent, ConfigError


def main(
    prompt: str,
    *,
    provider: str | None = None,
    model: str | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    workdir: str | Path = ".",
) -> int:
    """Answer ``prompt`` once; the exit status is 0 completed, 1 failed, 2 bad configuration."""
    try:
        agent = AIAgent(provider=provider, model=model, base_url=base_url, api_key=api_key, workdir=workdir)
    except ConfigError as exc:  # no key, no model for a custom endpoint, a bad workdir...
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    with agent:  # closes the provider's connections at the end
        result = agent.run(prompt)
    print(f"status: {result.status}")
    print(result.final_text if result.ok else f"error: {result.error}")
    return 0 if result.ok else 1


if __name__ == "__main__":
    text = " ".join(sys.argv[1:]) or "Say hello in one short sentence."
    sys.exit(
        main(
            text,
            base_url=os.environ.get("STAYLINE_EXAMPLE_BASE_URL") or None,
            api_key=os.environ.get("STAYLINE_EXAMPLE_API_KEY") or None,
        )
    )
