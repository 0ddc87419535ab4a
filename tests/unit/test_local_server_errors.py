"""Servers' errors in their own words: one line, the refused field, the room left, the
window they name; and how the policy classifies them."""

from __future__ import annotations

import json
from pathlib import Path

from agent.providers.base import ErrorFacts
from agent.providers.server_errors import fitting_output, one_line_server_error
from agent.providers.server_info import window_in_error
from agent.recovery.policy import classify, decide, unstreamed_retry

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def real_dump() -> str:
    """What llama-cpp-python 0.3.36 really answered (recorded by hand)."""
    body = json.loads((FIXTURES / "llamacpp_python_null_content_500.json").read_text())
    return str(body["error"]["message"])


def test_the_real_validation_dump_becomes_one_line_with_the_refused_field() -> None:
    dump = real_dump()
    assert dump.count("\n") > 5 and "File " in dump  # the dump, with its traceback line
    line = one_line_server_error(dump)
    assert line == (
        "7 validation errors; the field refused: messages.1.ChatCompletionRequestAssistantMessage.content: "
        "Input should be a valid string (sent: None)"
    )


def test_pydantics_own_layout_is_summarised_too() -> None:
    dump = (
        "2 validation errors for Request\n"
        "messages.0.role\n  Input should be 'user' [type=literal_error, input_value='bot', input_type=str]\n"
        "    For further information visit https://errors.pydantic.dev/2.12/v/literal_error\n"
        "max_tokens\n  Input should be a valid integer [type=int_type, input_value='lots', input_type=str]\n"
    )
    assert one_line_server_error(dump) == (
        "2 validation errors for Request; the field refused: max_tokens: Input should be a valid integer (sent: 'lots')"
    )


def test_other_messages_are_only_flattened() -> None:
    assert one_line_server_error("bad\n  thing\n\nhappened") == "bad thing happened"
    assert one_line_server_error("7 validation errors: but nothing after") == "7 validation errors: but nothing after"


def test_a_validation_500_is_a_bad_request_that_is_not_retried() -> None:
    facts = ErrorFacts("http_status", one_line_server_error(real_dump()), 500, None, "internal_server_error")
    assert classify(facts) == "bad_request"
    assert decide(facts, 1, 3).action == "fail"
    assert classify(ErrorFacts("http_status", "Internal Server Error", 500)) == "overloaded"  # a plain 500 still is


def test_the_room_left_from_vllm_and_llama_cpp_python_errors() -> None:
    vllm = (
        "'max_tokens' or 'max_completion_tokens' is too large: 8000. This model's maximum context length is "
        "8192 tokens and your request has 3000 input tokens (8000 > 8192 - 3000)."
    )
    assert fitting_output(vllm) == 5192
    older = (
        "This model's maximum context length is 4096 tokens. However, you requested 5000 tokens "
        "(1000 in the messages, 4000 in the completion). Please reduce the length of the messages or completion."
    )
    assert fitting_output(older) == 3096
    prompt_too_big = (
        "This model's maximum context length is 2048 tokens. However, you requested 3010 tokens "
        "(3010 in the messages, None in the completion). Please reduce the length of the messages or completion."
    )
    assert fitting_output(prompt_too_big) is None  # no max_tokens can help
    assert window_in_error(prompt_too_big) == 2048
    llama_server = "request (5000 tokens) exceeds the available context size (4096 tokens), try increasing it"
    assert window_in_error(llama_server) == 4096 and fitting_output(llama_server) is None


def test_when_to_ask_again_without_streaming() -> None:
    empty = ErrorFacts("incomplete_stream", "the stream ended without its terminal event")
    assert unstreamed_retry(empty, streaming=True, local=True, nothing_received=True) == "empty"
    assert unstreamed_retry(empty, streaming=True, local=False, nothing_received=True) is None  # a cloud drop
    assert unstreamed_retry(empty, streaming=False, local=True, nothing_received=True) is None
    # text or a tool call came: the stream broke, it did not end empty (continue it instead)
    assert unstreamed_retry(empty, streaming=True, local=True, nothing_received=False) is None
    dropped = ErrorFacts("transport", "RemoteProtocolError: peer closed connection")
    assert unstreamed_retry(dropped, streaming=True, local=True, nothing_received=True) is None
    refused = ErrorFacts("sse_error", "Automatic streaming tool choice is not supported", 400)
    assert unstreamed_retry(refused, streaming=True, local=False, nothing_received=True) == "refused"
    assert classify(refused) == "bad_request"
