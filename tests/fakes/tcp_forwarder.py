"""A TCP forwarder that a test can cut and restore: a database "outage" without stopping the
real server the rest of the suite uses. ``cut()`` closes the listener and every forwarded
connection (as a server restart or a failover would); ``black_hole()`` does the same but goes on
accepting connections that never get an answer (a server that hangs, an address that has moved);
``stall()`` keeps every connection open but stops passing data either way, so a query in flight
never gets its answer although the peer still acknowledges every packet (a server process that
froze, a proxy in front of a dead server); ``resume()`` passes on what was held.
``restore()`` forwards again, on the same port."""

from __future__ import annotations

import asyncio
import threading


class TcpForwarder:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tcp-forwarder", daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._forwarding = True
        self._flowing: asyncio.Event | None = None  # created on the forwarder's loop

    def start(self) -> TcpForwarder:
        self._thread.start()
        self.restore()
        return self

    def _run(self, coro) -> object:  # type: ignore[no-untyped-def]
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    def restore(self) -> None:
        self.cut()  # a black hole's listener and the connections it holds
        self._forwarding = True
        self._run(self._listen())

    def stall(self) -> None:
        self._run(self._set_flowing(False))

    def resume(self) -> None:
        self._run(self._set_flowing(True))

    async def _set_flowing(self, on: bool) -> None:
        if on:
            self._flow().set()
        else:
            self._flow().clear()

    def _flow(self) -> asyncio.Event:
        if self._flowing is None:
            self._flowing = asyncio.Event()
            self._flowing.set()
        return self._flowing

    def black_hole(self) -> None:
        self.cut()
        self._forwarding = False
        self._run(self._listen())

    def cut(self) -> None:
        self._run(self._cut())

    def stop(self) -> None:
        self.cut()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _cut(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for w in list(self._writers):
            w.transport.abort()
        self._writers.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self._forwarding:
            self._writers.add(writer)
            await reader.read()  # until the client gives up
            return
        self._writers.add(writer)  # cut() closes it while it waits, too
        await self._flow().wait()
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    await self._flow().wait()
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers.difference_update((writer, up_writer))
