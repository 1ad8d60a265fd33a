"""The upstream HTTP client (providers/http.py) against raw sockets: what aiohttp did for us
before and pyreqwest must be told, checked at the byte level."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import pytest

from aiguillage.call import Caller
from aiguillage.config import Deployment, ResilienceSettings, Timeouts
from aiguillage.decision import Decision
from aiguillage.errors import UpstreamHTTPError, UpstreamTimeout
from aiguillage.providers.http import UpstreamHttp
from aiguillage.providers.openai import OpenAIProvider

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


async def _server(handler: Handler) -> tuple[asyncio.Server, str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}/v1"


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    return await reader.readexactly(length)


def _deployment(url: str, **extra: Any) -> Deployment:
    return Deployment(id="raw", provider="openai", base_url=url, model="m", tier="small", jurisdiction="eu", **extra)


def _decision() -> Decision:
    return Decision(request_id="r", tenant="t", key_id="k", endpoint="/v1/chat/completions",
                    requested_model="auto", stream=False, subject_id="t")


def test_a_call_the_gateway_gave_up_on_is_aborted_upstream() -> None:
    # pyreqwest keeps a request running when the task awaiting it is cancelled: without its own
    # timeout, a slow upstream would go on generating (and billing) an answer nobody waits for.
    # The request's deadline (0.5 s) is far shorter than the deployment's total (30 s).
    async def scenario() -> tuple[float, float]:
        closed: asyncio.Future[float] = asyncio.get_running_loop().create_future()

        async def never_answers(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await _read_request(reader)
            await reader.read()  # until the client closes the connection
            closed.set_result(time.monotonic())
            writer.close()

        server, url = await _server(never_answers)
        timeouts = Timeouts(connect=1, first_token=30, idle=30, total=30)
        async with UpstreamHttp() as http:
            dep = _deployment(url)
            caller = Caller({"raw": OpenAIProvider(dep, http, timeouts)},
                            ResilienceSettings(max_attempts=1, timeouts=timeouts))
            t0 = time.monotonic()
            with pytest.raises(UpstreamTimeout):
                await caller.complete([dep], lambda d: dict(BODY), _decision(), time.monotonic() + 0.5)
            gave_up = time.monotonic() - t0
            aborted = await asyncio.wait_for(closed, 5) - t0
        server.close()
        return gave_up, aborted

    gave_up, aborted = asyncio.run(scenario())
    assert 0.4 < gave_up < 1.5
    assert aborted < gave_up + 1.0  # the margin is 0.25 s; the timeouts alone would be 30 s


def test_a_slow_first_token_does_not_shorten_the_stream_that_follows() -> None:
    # The stream's total counts from its first chunk (call.py, _released); the request's own
    # limit must leave that whole time, or the stream is cut early as "stalled".
    events = [b"data: " + orjson.dumps({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
                                       "choices": [{"index": 0, "delta": {"content": f"{i} "}, "finish_reason": None}]})
              + b"\n\n" for i in range(40)]

    async def scenario() -> tuple[str, float, int]:
        async def slow_then_steady(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await _read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
            await writer.drain()
            await asyncio.sleep(0.6)  # the first token comes late
            try:
                for ev in events:  # then one every 0.1 s, for longer than the total
                    writer.write(b"%x\r\n%s\r\n" % (len(ev), ev))
                    await writer.drain()
                    await asyncio.sleep(0.1)
            except ConnectionError:
                pass
            writer.close()

        server, url = await _server(slow_then_steady)
        timeouts = Timeouts(connect=1, first_token=5, idle=5, total=1)
        got = 0
        async with UpstreamHttp() as http:
            dep = _deployment(url)
            caller = Caller({"raw": OpenAIProvider(dep, http, timeouts)},
                            ResilienceSettings(max_attempts=1, timeouts=timeouts))
            t0 = time.monotonic()
            opened = await caller.open_stream([dep], lambda d: dict(BODY), _decision(), time.monotonic() + 30)
            with pytest.raises(UpstreamTimeout) as err:
                async for _chunk in opened.rest:
                    got += 1
            ended = time.monotonic() - t0
        server.close()
        return str(err.value), ended, got

    msg, ended, got = asyncio.run(scenario())
    assert "exceeded the time limit" in msg  # the stream's own limit, not a stall
    assert 1.45 < ended < 2.5  # first token at 0.6 s + 1 s of stream
    assert got >= 7


def test_a_redirect_is_an_error_that_names_where_it_pointed() -> None:
    async def scenario() -> str:
        async def redirects(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await _read_request(reader)
            writer.write(b"HTTP/1.1 308 Permanent Redirect\r\nLocation: https://elsewhere.example/v1/chat/completions"
                         b"\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
            writer.close()

        server, url = await _server(redirects)
        async with UpstreamHttp() as http:
            provider = OpenAIProvider(_deployment(url), http, Timeouts(connect=1, first_token=5, idle=5, total=10))
            with pytest.raises(UpstreamHTTPError) as err:
                await provider.complete(dict(BODY))
        server.close()
        return str(err.value)

    msg = asyncio.run(scenario())
    assert "308" in msg and "https://elsewhere.example/v1/chat/completions" in msg and "not followed" in msg


def test_a_key_that_cannot_be_sent_is_a_typed_upstream_error() -> None:
    async def scenario() -> str:
        async with UpstreamHttp() as http:
            dep = _deployment("http://127.0.0.1:9/v1", api_key="sk-pasted\nwith a line break")
            provider = OpenAIProvider(dep, http, Timeouts(connect=1, first_token=5, idle=5, total=10))
            with pytest.raises(UpstreamHTTPError) as err:
                await provider.complete(dict(BODY))
        return str(err.value)

    assert "deployment 'raw' failed" in asyncio.run(scenario())


def test_a_stream_cut_into_tiny_pieces_with_crlf_line_ends_parses_as_sent() -> None:
    chunks = [{"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
               "choices": [{"index": 0, "delta": {"content": word}, "finish_reason": None}]}
              for word in ("Bon", "jour", " à", " tous")]
    payload = b"".join(b"data: " + orjson.dumps(c) + b"\r\n\r\n" for c in chunks) + b"data: [DONE]\r\n\r\n"

    async def scenario() -> list[str]:
        async def trickles(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await _read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
            for i in range(0, len(payload), 3):  # line breaks, even \r from \n, land in different reads
                piece = payload[i:i + 3]
                writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                await writer.drain()
                await asyncio.sleep(0)
            writer.write(b"0\r\n\r\n")
            await writer.drain()
            writer.close()

        server, url = await _server(trickles)
        async with UpstreamHttp() as http:
            provider = OpenAIProvider(_deployment(url), http, Timeouts(connect=1, first_token=5, idle=5, total=10))
            got = [c async for c in provider.stream(dict(BODY))]
        server.close()
        return [c["choices"][0]["delta"].get("content") or "" for c in got if c.get("choices")]

    assert "".join(asyncio.run(scenario())) == "Bonjour à tous"
