"""How the callback receiver holds up under stalled connections (slowloris), from the repository
root:

    python -m bench.callback_flood                       # 5,000 stalled connections
    python -m bench.callback_flood --connections 10000 --probes 5

The receiver runs in this process with the limits the bot gives it (bot.callbacks.ReceiverLimits
for this process's open-file limit) on a real database in a temporary folder. N connections each
send half a request line and then nothing; meanwhile callback-shaped requests (a wrong token: the
same database lookup as a real callback) are sent and timed. Printed: how many connections the
receiver held at most, how long the server kept each stalled connection, when the last was cut,
and how the probes fared. The flooder's own sockets count against this process's limit too.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

from bot.callbacks import CallbackServer, ReceiverLimits
from bot.fdlimit import open_file_limit, raise_open_file_limit
from bot.store import open_store

STALL = b"POST /evolink/1/"
BATCH = 50
PROBE = b"POST /evolink/1/" + b"x" * 32 + b" HTTP/1.1\r\nHost: bench\r\nContent-Length: 2\r\n\r\n{}"


async def stall(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, float] | str:
    """One slow sender: connects and sends half a request line; or why it could not connect."""
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError as exc:
        return type(exc).__name__
    writer.write(STALL)
    return reader, writer, time.perf_counter()


async def until_cut(
    connection: tuple[asyncio.StreamReader, asyncio.StreamWriter, float], held: list[float]
) -> None:
    reader, writer, start = connection
    try:
        await reader.read()
    except ConnectionError:
        pass
    held.append(time.perf_counter() - start)
    writer.close()


async def flood(port: int, count: int, held: list[float], failed: list[str]) -> None:
    """Opened in batches below the listen backlog, so that no connection waits in the kernel's
    queue (which would count as held here though the receiver never saw it)."""
    waiting = []
    for first in range(0, count, BATCH):
        batch = await asyncio.gather(*(stall(port) for _ in range(min(BATCH, count - first))))
        for result in batch:
            if isinstance(result, str):
                failed.append(result)
            else:
                waiting.append(asyncio.create_task(until_cut(result, held)))
    await asyncio.gather(*waiting)


async def probe(port: int) -> tuple[float, str]:
    start = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(PROBE)
    answer = await reader.read()
    writer.close()
    return time.perf_counter() - start, answer.split(b"\r\n", 1)[0].decode()


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else -1


async def run(connections: int, probes: int) -> None:
    limits = ReceiverLimits.within(open_file_limit())
    with tempfile.TemporaryDirectory() as folder:
        store = await open_store(Path(folder) / "bench.db")
        server = CallbackServer(store, lambda: None, "/evolink", limits)
        await server.start("127.0.0.1", 0)
        assert server.port is not None
        held: list[float] = []
        failed: list[str] = []
        peak = {"held": 0, "fds": 0}

        async def watch() -> None:
            while True:
                peak["held"] = max(peak["held"], server.open_connections)
                peak["fds"] = max(peak["fds"], open_fds())
                await asyncio.sleep(0.05)

        watcher = asyncio.create_task(watch())
        began = time.perf_counter()
        flooding = asyncio.create_task(flood(server.port, connections, held, failed))
        answers = []
        for _ in range(probes):
            await asyncio.sleep(1.0)
            answers.append(await probe(server.port))
        await flooding
        cleared = time.perf_counter() - began
        watcher.cancel()
        await server.stop()
        await store.close()

    deadline = [h for h in held if h >= limits.header_timeout - 0.5]
    held.sort()
    print(f"limits: {limits}")
    print(f"open-file limit of this process: {open_file_limit()}")
    print(f"stalled connections opened: {len(held)} (failed to connect: {len(failed)})")
    print(f"most connections the receiver held at once: {peak['held']}")
    print(f"most file descriptors open in this process (flooder included): {peak['fds']}")
    if held:
        print(
            f"time the server kept a stalled connection: median {statistics.median(held):.2f} s, "
            f"90% {held[int(len(held) * 0.9)]:.2f} s, max {held[-1]:.2f} s; "
            f"{len(held) - len(deadline)} dropped for newer ones, {len(deadline)} cut at the "
            "header deadline"
        )
    print(f"every stalled connection closed by the server after {cleared:.2f} s")
    for seconds, status in answers:
        print(f"probe during the flood: {status!r} in {seconds * 1000:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.callback_flood", description=__doc__)
    parser.add_argument("--connections", type=int, default=5000)
    parser.add_argument("--probes", type=int, default=3)
    args = parser.parse_args()
    raise_open_file_limit()
    asyncio.run(run(args.connections, args.probes))


if __name__ == "__main__":
    main()
