"""One benchmark job in a fresh process: `python -m bench.worker JOB --params JSON --out FILE`.

A fresh process per job keeps the figures apart: one job's memory peak, warm caches or leftover
tasks never show up in another's. The heavy imports (discord.py, the bot) happen inside the
jobs, so that the restart job can time them.
"""

from __future__ import annotations

import time

STARTED = time.time()  # before anything heavy is imported (the restart job reports it)

import argparse  # noqa: E402
import asyncio  # noqa: E402
import importlib  # noqa: E402
import json  # noqa: E402
from collections.abc import Callable, Coroutine  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

JOBS: dict[str, tuple[str, str]] = {
    "burst": ("bench.burst", "run"),
    "tracking": ("bench.tracking", "run_ours"),
    "naive": ("bench.tracking", "run_naive"),
    "crowd": ("bench.crowd", "run"),
    "restart-prepare": ("bench.restart", "prepare"),
    "restart": ("bench.restart", "run"),
    "history-build": ("bench.history", "build"),
    "history-query": ("bench.history", "query"),
    "history-export": ("bench.history", "export"),
    "history-to-postgres": ("bench.history", "to_postgres"),
    "processes-setup": ("bench.processes", "setup"),
    "processes-bot": ("bench.processes", "run_bot"),
}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.worker")
    parser.add_argument("job", choices=sorted(JOBS))
    parser.add_argument("--params", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--profile", default=None)
    args = parser.parse_args()
    params: dict[str, Any] = json.loads(args.params)
    params["_worker_started"] = STARTED

    from bench.runtime import Profiler

    module_name, function_name = JOBS[args.job]
    name = args.job + (f"-{params['variant']}" if "variant" in params else "")
    name += f"-{params['n']}" if "n" in params else ""
    prof = Profiler(Path(args.profile) if args.profile else None, name)
    module = importlib.import_module(module_name)
    job: Callable[[dict[str, Any], Profiler], Coroutine[Any, Any, dict[str, Any]]]
    job = getattr(module, function_name)
    result: dict[str, Any] = asyncio.run(job(params, prof))
    Path(args.out).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
