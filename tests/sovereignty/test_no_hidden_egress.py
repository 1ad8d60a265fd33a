"""No hidden egress: while serving traffic with every detector loaded, the gateway's processes
hold connections only to the deployments in its catalog (and its own clients and database)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import psutil

from tests.fakes.openai_upstream import FakeOpenAI
from tests.support import GatewayProcess, catalog, openai_deployment

PROMPTS = [
    "Sehr geehrte Frau Anna Schmidt, Ihre IBAN DE89 3704 0044 0532 0130 00 wurde belastet.",
    "Bonjour M. Jean Dupont, merci de rappeler le 06 12 34 56 78 concernant votre dossier.",
    "Please email john.smith@example.com about the invoice INV-2024-00017.",
]


def test_only_catalog_and_store_connections(tmp_path: Path) -> None:
    fake = FakeOpenAI("eu").start()
    cfg = catalog(openai_deployment("eu-small", fake.url, "small", "eu"),
                  default_policy={"personal_data": "pseudonymize"})
    gw = GatewayProcess(tmp_path, cfg, workers=2).start()
    try:
        key = gw.key("acme")
        assert gw.proc is not None
        root = psutil.Process(gw.proc.pid)
        seen: set[tuple[str, str, int]] = set()
        stop = threading.Event()

        def watch() -> None:
            while not stop.is_set():
                for p in [root, *root.children(recursive=True)]:
                    try:
                        for c in p.net_connections(kind="inet"):
                            if c.raddr and c.laddr.port != gw.port:  # not a client connected to us
                                seen.add((c.type.name, c.raddr.ip, c.raddr.port))
                            elif c.type.name == "SOCK_DGRAM":
                                seen.add(("SOCK_DGRAM", c.laddr.ip, c.laddr.port))
                    except psutil.NoSuchProcess:
                        continue
                time.sleep(0.02)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        with httpx.Client(timeout=30) as client:
            for i in range(30):
                stream = i % 3 == 0
                r = client.post(gw.url + "/v1/chat/completions", headers={"authorization": f"Bearer {key}"},
                                json={"messages": [{"role": "user", "content": PROMPTS[i % 3]}], "stream": stream})
                assert r.status_code == 200, r.text
        stop.set()
        watcher.join(5)
        assert len(fake.requests) == 30
        assert "Anna Schmidt" not in str(fake.requests)  # pseudonymised on the way out
        remote = {(t, ip, port) for t, ip, port in seen}
        assert ("SOCK_STREAM", "127.0.0.1", fake.port) in remote  # the watcher did see the upstream traffic
        allowed_ports = {fake.port}
        unexpected = {(t, ip, port) for t, ip, port in remote if port not in allowed_ports}
        assert unexpected == set(), f"connections outside the catalog: {unexpected}"
    finally:
        gw.stop()
        fake.stop()
