"""Where the event loop's time goes, layer by layer, in one process without the HTTP server.

    .venv/bin/python bench/gateway_layers.py                 # 16 concurrent callers
    .venv/bin/python bench/gateway_layers.py --conc 1        # one at a time: what c=1 pays

Each layer runs the gateway's real code against the fake upstream (bench/fake_upstream.py, its
own process), adding one part of the request path to the layer before it:

1. the shared upstream HTTP client posting the benchmark's body and reading the answer (the floor);
2. the provider (``OpenAIProvider.complete``: JSON in and out, checks);
3. the caller (breaker, concurrency slot, timeout, attempt record) around the provider;
4. parsing and ``ChatPipeline.prepare`` alone (key already checked; no upstream call);
5. the pipeline: prepare, call, charge, and the durable record (group commit, audit log on);
6. the whole app over RSGI: key check, body, pipeline, response (as granian drives it for
   ``aiguillage serve``);
7–9. layer 5 without the audit sink, with no sinks at all (empty commits), and with no writer:
   what the durable record costs, part by part.

Per layer and request: CPU of the event-loop thread, of the upstream HTTP client's runtime thread
(pyreqwest's), of the group-commit writer and WAL checkpoint threads, and wall time (best of ``--rounds``; CPU time is far less sensitive to the
noisy VM than wall time).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable

import orjson
import uvloop

from gateway_common import CHAT_BODY
from gateway_inproc import RECORD_THREADS, RsgiProto, client_thread_cpu, rsgi_request, start_inproc, thread_cpu  # first: it sets up prometheus_client as serve does

from aiguillage.api.app import App
from aiguillage.api.validate import parse_chat, parse_json
from aiguillage.decision import Decision
from aiguillage.providers.http import read_body

Call = Callable[[], Awaitable[object]]


async def measure(name: str, one: Call, n: int, conc: int, rounds: int, writer: object) -> None:
    async def caller(k: int) -> None:
        for _ in range(k):
            await one()

    await asyncio.gather(*(caller(max(1, 200 // conc)) for _ in range(conc)))  # warm-up
    best: tuple[float, float, float, float, float] | None = None
    for _ in range(rounds):
        batches0, records0 = getattr(writer, "batches", 0), getattr(writer, "records", 0)
        loop0, writer0, wall0 = time.thread_time(), thread_cpu(*RECORD_THREADS), time.perf_counter()
        client0 = client_thread_cpu()
        await asyncio.gather(*(caller(n // conc) for _ in range(conc)))
        done = n // conc * conc
        batches = getattr(writer, "batches", 0) - batches0
        got = ((time.thread_time() - loop0) / done * 1e6, (thread_cpu(*RECORD_THREADS) - writer0) / done * 1e6,
               (time.perf_counter() - wall0) / done * 1e6,
               (getattr(writer, "records", 0) - records0) / batches if batches else 0.0,
               (client_thread_cpu() - client0) / done * 1e6)
        best = got if best is None or got[0] + got[4] < best[0] + best[4] else best
    assert best is not None
    print(f"| {name} | {best[0]:.0f} | {best[4]:.0f} | {best[1]:.0f} | {best[2]:.0f} | {best[3]:.1f} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=4000)
    ap.add_argument("--conc", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--only", type=int, action="append", help="run only this layer (repeatable)")
    args = ap.parse_args()
    up, settings, key = start_inproc("aiguillage-layers-")
    try:
        uvloop.run(run(App(settings), key, settings.models[0].base_url, args))
    finally:
        up.stop()


async def run(app: App, key: str, base_url: str, args: argparse.Namespace) -> None:
    gw, chat = app.gw, app.chat
    await gw.start()
    body = orjson.dumps({"model": "auto", **CHAT_BODY})
    upstream_body = {**CHAT_BODY, "model": "bench-upstream"}
    url = f"{base_url}/chat/completions"
    info = await gw.authenticate(key)
    assert info is not None and gw.http is not None and gw.caller is not None
    provider = gw.providers["bench-model"]
    req0 = parse_chat(parse_json(body))
    prep0 = await chat.prepare(info, req0, "layers", "/v1/chat/completions", None, None)
    body_for = chat.body_for(req0, prep0)
    scope, _ = rsgi_request(key)
    statuses: list[int] = []

    timeouts = provider.timeouts

    async def raw_post() -> None:
        r = await gw.http.post(timeouts, url, body, {"Content-Type": "application/json"}, None, "bench")  # type: ignore[union-attr]
        await read_body(r, "bench")

    async def provider_call() -> None:
        await provider.complete(upstream_body)

    async def caller_call() -> None:
        d = Decision(request_id="layers", tenant="bench", key_id=info.key_id, endpoint="/v1/chat/completions",
                     requested_model="auto", stream=False, subject_id="bench")
        await gw.caller.complete(prep0.ranking.order, body_for, d, time.monotonic() + 30)  # type: ignore[union-attr]

    async def prepare_only() -> None:
        await chat.prepare(info, parse_chat(parse_json(body)), "layers", "/v1/chat/completions", None, None)

    async def pipeline() -> None:
        req = parse_chat(parse_json(body))
        prep = await chat.prepare(info, req, "layers", "/v1/chat/completions", None, None)
        await chat.complete(req, prep)

    writer = gw.writer
    assert writer is not None
    sinks = list(writer.sinks)

    def with_sinks(keep: list, no_writer: bool = False) -> Callable[[], Awaitable[object]]:
        """The pipeline with only ``keep`` of the writer's sinks (or no writer at all)."""
        async def run_it() -> None:
            writer.sinks = keep
            gw.writer = None if no_writer else writer
            try:
                await pipeline()
            finally:
                writer.sinks, gw.writer = sinks, writer
        return run_it

    async def whole_app() -> None:
        proto = RsgiProto(body)
        await app.__rsgi__(scope, proto)
        statuses.append(proto.status)

    print(f"c={args.conc}, {args.requests} requests per round, best of {args.rounds} rounds (by loop CPU)\n")
    print("| layer | event loop CPU µs/req | HTTP client thread CPU µs/req | writer + checkpoint threads CPU µs/req "
          "| wall µs/req | records per commit |\n|---|---:|---:|---:|---:|---:|")
    layers = [("1. HTTP client post + read", raw_post), ("2. provider", provider_call),
                      ("3. caller (slot, breaker, timeout) + provider", caller_call),
                      ("4. parse + prepare (no call)", prepare_only),
                      ("5. pipeline: prepare, call, charge, durable record", pipeline),
                      ("6. whole app (RSGI)", whole_app),
                      # What the durable record costs, by part: layer 5 without the audit
                      # sink, with no sinks (the batching, futures and record dict, empty
                      # commits), and without the writer.
                      ("7. layer 5 without the audit sink", with_sinks([x for x in sinks if x.__class__.__name__ != "AuditSink"])),
                      ("8. layer 5 with no sinks (empty commits)", with_sinks([])),
                      ("9. layer 5 with no writer", with_sinks([], no_writer=True))]
    for i, (name, one) in enumerate(layers, 1):
        if args.only and i not in args.only:
            continue
        await measure(name, one, args.requests, args.conc, args.rounds, writer)
    if any(s != 200 for s in statuses):
        raise SystemExit(f"the app answered {sorted(set(statuses))}")
    await gw.close()


if __name__ == "__main__":
    sys.exit(main())
