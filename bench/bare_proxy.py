"""The floor for the gateway benchmark: a proxy with no gateway in it.

    python bench/bare_proxy.py --port 18001 --upstream http://127.0.0.1:18000 --workers 2

The same server as aiguillage (granian, RSGI by default or ASGI with ``--interface asgi``, uvloop,
the same worker count) and the same upstream client library (one pooled pyreqwest client per
worker, with its defaults where the gateway's sets timeouts and turns proxies off), and nothing
else: no key check, no inspection, no routing, no accounting, no record, no metrics. Any request's body goes
to the upstream's ``/v1/chat/completions``; the upstream's status and body come back as JSON.

bench/gateway_vs_litellm.py runs it beside aiguillage and LiteLLM, so every run shows what the
gateway's own work costs over a proxy that does none, measured under the same load.
"""

from __future__ import annotations

import argparse
import os
import time

from pyreqwest.client import Client, ClientBuilder

ENV_UPSTREAM = "BARE_PROXY_UPSTREAM"
# Optional: µs of pure-Python CPU the event loop spends on each request, a stand-in for the
# gateway's own work. It shows what the server's and the client's threads cost per request once
# the loop is busy (bench/gateway_profile.py --threads --bare --busy-us N).
ENV_BUSY_US = "BARE_PROXY_BUSY_US"


def _busy(seconds: float) -> None:
    end = time.perf_counter() + seconds  # read without a system call, unlike a thread CPU clock
    while time.perf_counter() < end:
        pass


class BareProxy:
    """Callable over RSGI (``__rsgi__``) and ASGI (``__call__``), as aiguillage's App is."""

    def __init__(self) -> None:
        self.upstream = os.environ[ENV_UPSTREAM].rstrip("/") + "/v1/chat/completions"
        self.session: Client | None = None
        self.busy_s = float(os.environ.get(ENV_BUSY_US) or 0) / 1e6

    async def post(self, body: bytes) -> tuple[int, bytes]:
        if self.session is None:
            self.session = ClientBuilder().build()
        resp = await (self.session.post(self.upstream).body_bytes(body)
                      .header("content-type", "application/json").build().send())
        return resp.status, bytes(await resp.bytes())

    async def __rsgi__(self, scope, proto) -> None:  # noqa: ANN001
        status, data = await self.post(await proto())
        if self.busy_s:
            _busy(self.busy_s)
        proto.response_bytes(status, [("content-type", "application/json")], data)

    def __rsgi_del__(self, loop) -> None:  # noqa: ANN001
        if self.session is not None:
            loop.run_until_complete(self.session.close())

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif msg["type"] == "lifespan.shutdown":
                    if self.session is not None:
                        await self.session.close()
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
        status, data = await self.post(b"".join(chunks))
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(data)).encode())]})
        await send({"type": "http.response.body", "body": data})


def app_factory() -> BareProxy:
    return BareProxy()


def main() -> None:
    from granian import Granian
    from granian.constants import Interfaces, Loops

    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--upstream", required=True, help="the upstream's origin, e.g. http://127.0.0.1:18000")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--interface", choices=["rsgi", "asgi"], default="rsgi")
    args = ap.parse_args()
    os.environ[ENV_UPSTREAM] = args.upstream
    Granian(target="bare_proxy:app_factory", factory=True, address="127.0.0.1", port=args.port,
            interface=Interfaces.RSGI if args.interface == "rsgi" else Interfaces.ASGI, workers=args.workers,
            loop=Loops.uvloop, log_enabled=False, backpressure=1024).serve()


if __name__ == "__main__":
    main()
