"""The floor for the gateway benchmark: a proxy with no gateway in it.

    python bench/bare_proxy.py --port 18001 --upstream http://127.0.0.1:18000 --workers 2

The same server as aiguillage (granian, ASGI, uvloop, the same worker count) and the same
upstream client library (one pooled aiohttp ClientSession per worker, with aiohttp's defaults
where the gateway's session tunes cookies, keep-alive and DNS caching), and nothing else: no key
check, no inspection, no routing, no accounting, no record, no metrics. Any request's body goes
to the upstream's ``/v1/chat/completions``; the upstream's status and body come back as JSON.

bench/gateway_vs_litellm.py runs it beside aiguillage and LiteLLM, so every run shows what the
gateway's own work costs over a proxy that does none, measured under the same load.
"""

from __future__ import annotations

import argparse
import os

import aiohttp

ENV_UPSTREAM = "BARE_PROXY_UPSTREAM"


def app_factory():  # noqa: ANN201 - granian's factory
    upstream = os.environ[ENV_UPSTREAM].rstrip("/") + "/v1/chat/completions"
    session: aiohttp.ClientSession | None = None

    async def app(scope, receive, send) -> None:  # noqa: ANN001
        nonlocal session
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
                    await send({"type": "lifespan.startup.complete"})
                elif msg["type"] == "lifespan.shutdown":
                    if session is not None:
                        await session.close()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        chunks = []
        while True:
            msg = await receive()
            chunks.append(msg.get("body", b""))
            if not msg.get("more_body"):
                break
        assert session is not None
        async with session.post(upstream, data=b"".join(chunks),
                                headers={"content-type": "application/json"}) as resp:
            data = await resp.read()
            status = resp.status
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(data)).encode())]})
        await send({"type": "http.response.body", "body": data})

    return app


def main() -> None:
    from granian import Granian
    from granian.constants import Interfaces, Loops

    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--upstream", required=True, help="the upstream's origin, e.g. http://127.0.0.1:18000")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    os.environ[ENV_UPSTREAM] = args.upstream
    Granian(target="bare_proxy:app_factory", factory=True, address="127.0.0.1", port=args.port,
            interface=Interfaces.ASGI, workers=args.workers, loop=Loops.uvloop, log_enabled=False,
            backpressure=1024).serve()


if __name__ == "__main__":
    main()
