"""A minimal, very fast OpenAI-compatible upstream for the gateway benchmark.

Every POST (any path) gets the same fixed ``chat.completion`` with ``usage``; GET answers
``{"status":"ok"}``. It is a bare asyncio protocol on uvloop (no framework, no JSON parsing)
so that it costs a small fraction of what the proxies under test cost per request: what the
benchmark measures is the gateway, not the fake.

    python bench/fake_upstream.py --port 18000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal

ANSWER = {
    "id": "chatcmpl-bench",
    "object": "chat.completion",
    "created": 1700000000,
    "model": "bench-upstream",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Bonjour ! Comment puis-je aider ?"},
                 "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 12, "completion_tokens": 9, "total_tokens": 21},
}


def _response(body: bytes) -> bytes:
    head = (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
            + str(len(body)).encode() + b"\r\n\r\n")
    return head + body


POST_RESPONSE = _response(json.dumps(ANSWER, separators=(",", ":")).encode())
GET_RESPONSE = _response(b'{"status":"ok"}')


class Upstream(asyncio.Protocol):
    """HTTP/1.1 keep-alive with Content-Length bodies; pipelining-safe (buffers partial requests)."""

    __slots__ = ("transport", "buf")

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        out: list[bytes] = []
        while True:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                break
            head = buf[:end]
            length = 0
            i = head.lower().find(b"content-length:")
            if i >= 0:
                j = head.find(b"\r\n", i)
                length = int(head[i + 15: j if j >= 0 else len(head)])
            total = end + 4 + length
            if len(buf) < total:
                break
            out.append(POST_RESPONSE if head.startswith(b"POST") else GET_RESPONSE)
            buf = buf[total:]
        self.buf = buf
        if out and self.transport is not None:
            self.transport.write(b"".join(out))


async def serve(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Upstream, host, port, backlog=4096, reuse_address=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=18000)
    args = ap.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # plain asyncio still works, just slower
        pass
    asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
