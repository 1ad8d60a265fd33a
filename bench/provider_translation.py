"""CPU cost of the vendor adapters' and inbound translators' format conversions.

Usage: .venv/bin/python bench/provider_translation.py [--repeat 7] [--number 2000]
Times the pure translation functions (no network) on a 10-turn conversation with tools, and the
stream translators per chunk; prints the median microseconds per call over --repeat runs.
"""

from __future__ import annotations

import argparse
import statistics
import timeit
from collections.abc import Callable
from typing import Any

from aiguillage.api.anthropic_messages import (
    MessagesStreamTranslator,
    chat_response_to_messages,
    messages_request_to_chat,
)
from aiguillage.api.responses import ResponsesStreamTranslator, chat_response_to_responses, responses_request_to_chat
from aiguillage.providers.ai21 import to_ai21
from aiguillage.providers.anthropic import _StreamState, from_anthropic, to_anthropic
from aiguillage.providers.cohere import from_cohere, to_cohere
from aiguillage.providers.mistral import to_mistral
from aiguillage.providers.ollama import to_ollama

TOOL = {"type": "function", "function": {"name": "get_weather", "description": "Weather",
                                         "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}
CALL = {"id": "call_abc123XYZ", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
TURNS: list[dict[str, Any]] = [{"role": "system", "content": "Tu es un assistant utile et concis."}]
for i in range(3):
    TURNS += [{"role": "user", "content": f"Question {i}: " + "quel temps fait-il ? " * 20},
              {"role": "assistant", "content": None, "tool_calls": [CALL]},
              {"role": "tool", "tool_call_id": "call_abc123XYZ", "content": '{"temp": 18}'}]
BODY = {"model": "m", "messages": TURNS, "tools": [TOOL], "tool_choice": "auto", "temperature": 0.3,
        "max_tokens": 256, "stop": ["FIN"]}
COMPLETION = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
              "choices": [{"index": 0, "finish_reason": "stop",
                           "message": {"role": "assistant", "content": "Il fait beau. " * 30}}],
              "usage": {"prompt_tokens": 300, "completion_tokens": 100, "total_tokens": 400}}
ANTHROPIC_ANSWER = {"id": "msg_1", "type": "message", "role": "assistant", "model": "m", "stop_reason": "end_turn",
                    "content": [{"type": "text", "text": "Il fait beau. " * 30}],
                    "usage": {"input_tokens": 300, "output_tokens": 100}}
COHERE_ANSWER = {"id": "c", "finish_reason": "COMPLETE",
                 "message": {"role": "assistant", "content": [{"type": "text", "text": "Il fait beau. " * 30}]},
                 "usage": {"billed_units": {"input_tokens": 300, "output_tokens": 100}}}
CHUNK = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
         "choices": [{"index": 0, "delta": {"content": "beau "}, "finish_reason": None}]}
ANTHROPIC_DELTA = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "beau "}}
MESSAGES_REQ = {"model": "auto", "max_tokens": 256, "system": "Sois bref.",
                "messages": [{"role": "user" if i % 2 == 0 else "assistant", "content": "Bonjour " * 20}
                             for i in range(9)]}
RESPONSES_REQ = {"model": "auto", "instructions": "Sois bref.",
                 "input": [{"role": "user", "content": [{"type": "input_text", "text": "Bonjour " * 20}]}] * 9}


def cases() -> dict[str, Callable[[], Any]]:
    anthropic_stream = _StreamState("d")
    anthropic_stream.handle("message_start", {"message": {"id": "m", "model": "m", "usage": {}}})
    msg_tr = MessagesStreamTranslator("auto")
    resp_tr = ResponsesStreamTranslator("auto")
    return {
        "outbound mistral request": lambda: to_mistral(BODY, {}),
        "outbound ai21 request": lambda: to_ai21(BODY, "d"),
        "outbound anthropic request": lambda: to_anthropic(BODY, "m", {}),
        "outbound cohere request": lambda: to_cohere(BODY, "m"),
        "outbound ollama request": lambda: to_ollama(BODY, "m", {}, False),
        "anthropic answer -> openai": lambda: from_anthropic(ANTHROPIC_ANSWER),
        "cohere answer -> openai": lambda: from_cohere(COHERE_ANSWER, "m", "d"),
        "anthropic stream event -> chunk": lambda: anthropic_stream.handle("content_block_delta", ANTHROPIC_DELTA),
        "inbound /v1/messages request": lambda: messages_request_to_chat(MESSAGES_REQ),
        "inbound /v1/messages answer": lambda: chat_response_to_messages(COMPLETION, "auto"),
        "inbound /v1/messages stream chunk": lambda: msg_tr.feed(CHUNK),
        "inbound /v1/responses request": lambda: responses_request_to_chat(RESPONSES_REQ),
        "inbound /v1/responses answer": lambda: chat_response_to_responses(COMPLETION, "auto"),
        "inbound /v1/responses stream chunk": lambda: resp_tr.feed(CHUNK),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--number", type=int, default=2000)
    args = ap.parse_args()
    print(f"{'case':40s} {'median µs/call':>15s} {'min µs/call':>12s}")
    for name, fn in cases().items():
        runs = [t / args.number * 1e6 for t in timeit.repeat(fn, repeat=args.repeat, number=args.number)]
        print(f"{name:40s} {statistics.median(runs):15.1f} {min(runs):12.1f}")


if __name__ == "__main__":
    main()
