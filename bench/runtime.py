"""Light helpers of a job's process: logging as in production, a profiler, RSS sampling.
Imports nothing heavy, so that the restart job can time the bot's own imports."""

from __future__ import annotations

import asyncio
import cProfile
import io
import logging
import pstats
from collections import Counter
from pathlib import Path
from types import TracebackType

from bench.common import rss_kib

# --------------------------------------------------------------------------------------------
# Logging (as `python -m bot` does: INFO, httpx quiet) and profiling
# --------------------------------------------------------------------------------------------


class _CountingHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.counts: Counter[str] = Counter()
        self.first: dict[str, str] = {}

    def emit(self, record: logging.LogRecord) -> None:
        self.counts[record.levelname] += 1
        self.first.setdefault(record.levelname, f"{record.name}: {record.getMessage()[:200]}")


def production_logging(path: Path) -> _CountingHandler:
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    file_handler = logging.FileHandler(path)
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root.addHandler(file_handler)
    counter = _CountingHandler()
    root.addHandler(counter)
    root.setLevel(logging.INFO)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("discord").setLevel(logging.WARNING)
    return counter


class Profiler:
    """cProfile around the measured part of a job, when `--profile DIR` is given."""

    def __init__(self, directory: Path | None, name: str) -> None:
        self.directory = directory
        self.name = name
        self._profile = cProfile.Profile() if directory is not None else None

    def __enter__(self) -> Profiler:
        if self._profile is not None:
            self._profile.enable()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._profile is None or self.directory is None:
            return
        self._profile.disable()
        self.directory.mkdir(parents=True, exist_ok=True)
        self._profile.dump_stats(self.directory / f"{self.name}.prof")
        text = io.StringIO()
        stats = pstats.Stats(self._profile, stream=text)
        stats.sort_stats("tottime").print_stats(40)
        stats.sort_stats("cumulative").print_stats(60)
        (self.directory / f"{self.name}.txt").write_text(text.getvalue())


async def sample_rss(stop: asyncio.Event, every: float, into: list[int]) -> None:
    while not stop.is_set():
        into.append(rss_kib())
        try:
            async with asyncio.timeout(every):
                await stop.wait()
        except TimeoutError:
            pass
