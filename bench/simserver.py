"""The EvoLink simulator (bot/simulator/) as the benchmark runs it, in its own process:
`python -m bench.simserver [--task-seconds S] [--no-batch]` prints `READY <url>`.

Three additions, all on the benchmark's side of the fence:
* tasks of mixed lengths, loaded from a plan file (POST /_bench/plan {"path": ...}); a planned
  task turns terminal at `created_at + length` on the wall clock, which both processes share;
* requests are counted (per route, and status look-ups per task id) instead of kept, so that a
  run of 100,000 queries costs no memory;
* callbacks of planned tasks are sent when each task ends (a timer per task) instead of a scan
  of every task every 0.2 s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.simulator import MODEL, RecordedRequest, SimTask, Simulator
from bot.simulator.responses import json_response

_DROPPED = RecordedRequest("", "", {}, {}, None, b"", 0.0)
QUERY_PREFIX = "/v1/tasks/"


class _Discard(list[RecordedRequest]):
    """Stands in for Simulator.requests: counted elsewhere, kept nowhere."""

    def append(self, item: RecordedRequest) -> None:
        return None


class BenchSimulator(Simulator):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.requests = _Discard()
        self.counts: Counter[str] = Counter()
        self.lookups: Counter[str] = Counter()
        self.batch_ids = 0
        self._timers: list[asyncio.TimerHandle] = []

    # counting instead of recording ------------------------------------------------------------

    def _record(self, request: web.Request, body: bytes) -> RecordedRequest:
        path = request.path
        if path == "/v1/tasks/batch":
            self.counts["batch"] += 1
            try:
                ids = json.loads(body).get("task_ids") or []
            except (ValueError, AttributeError):
                ids = []
            self.batch_ids += len(ids)
            self.lookups.update(str(i) for i in ids)
        elif path.startswith(QUERY_PREFIX):
            self.counts["query"] += 1
            self.lookups[path[len(QUERY_PREFIX) :]] += 1
        elif path == "/v1/videos/generations":
            self.counts["create"] += 1
        elif path == "/v1/credits":
            self.counts["credits"] += 1
        elif not path.startswith("/_bench/"):
            self.counts["other"] += 1
        return _DROPPED

    # control ---------------------------------------------------------------------------------

    def load_plan(self, tasks: list[list[Any]]) -> int:
        """Each task: [task_id, created_at, length, fail_code | None, callback_url | None,
        estimate, progress profile, quality, duration] (it reserves what the bot holds for it,
        so that its charges are believed)."""
        loop = asyncio.get_running_loop()
        now = self.clock()
        for row in tasks:
            task_id, created_at, length, fail_code, callback_url, estimate, profile = row[:7]
            quality, duration = str(row[7]), int(row[8])
            self.tasks[task_id] = SimTask(
                id=task_id,
                api_key="bench",
                created_at=created_at,
                created=int(created_at),
                model=MODEL,
                prompt="a benchmark scene",
                negative_prompt=None,
                audio_urls=None,
                quality=quality,
                aspect_ratio="16:9",
                duration=duration,
                seed=None,
                prompt_extend=False,
                callback_url=callback_url,
                credits_reserved=self.price_per_second[quality] * duration,
                request_body={},
                fail_code=fail_code,
                seconds=float(length),
                estimated_seconds=float(estimate),
                progress_profile=str(profile),
            )
            if callback_url:
                delay = max(0.0, created_at + length - now)
                timer = loop.call_later(delay, self.callbacks.send, self.tasks[task_id])
                self._timers.append(timer)
        self.callbacks.scan = False  # each planned task's timer sends its callback
        return len(tasks)

    def stats(self) -> dict[str, Any]:
        ok = sum(1 for a in self.callback_attempts if a.ok)
        return {
            "counts": dict(self.counts),
            "batch_ids": self.batch_ids,
            "lookups": dict(self.lookups),
            "cpu": time.process_time(),
            "wall": time.time(),
            "callbacks_ok": ok,
            "callbacks_failed": len(self.callback_attempts) - ok,
        }

    def _build_app(self) -> web.Application:
        app = super()._build_app()
        app.router.add_post("/_bench/plan", self._h_plan)
        app.router.add_get("/_bench/stats", self._h_stats)
        return app

    async def _h_plan(self, request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        plan = json.loads(await asyncio.to_thread(Path(body["path"]).read_text))
        return json_response({"loaded": self.load_plan(plan["tasks"])})

    async def _h_stats(self, request: web.Request) -> web.Response:
        return json_response(self.stats())

    async def stop(self) -> None:
        for timer in self._timers:
            timer.cancel()
        await super().stop()


async def _serve(args: argparse.Namespace) -> None:
    sim = BenchSimulator(
        task_seconds=args.task_seconds,
        pending_seconds=args.pending_seconds,
        balance=1e12,
        batch_enabled=not args.no_batch,
        allow_insecure_callbacks=True,  # loopback http callbacks to the bot
        seed=1,
        video_bytes=args.video_bytes,
    )
    if args.latency_ms > 0:  # an API and a file host across the internet, not on loopback
        sim.faults.add(route="any", always=True, delay=args.latency_ms / 1000)
        sim.faults.add(route="files", always=True, delay=args.latency_ms / 1000)
    url = await sim.start("127.0.0.1", 0)
    print(f"READY {url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await sim.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.simserver")
    parser.add_argument("--task-seconds", type=float, default=3600.0)
    parser.add_argument("--pending-seconds", type=float, default=2.0)
    parser.add_argument("--no-batch", action="store_true")
    parser.add_argument("--video-bytes", type=int, default=256 * 1024, help="result file size")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added to every answer")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(parser.parse_args()))


if __name__ == "__main__":
    main()
