"""What every part of the benchmark shares: result rows, statistics, process figures, and the
simulator process. Light on purpose: the orchestrator imports it without discord.py or the bot."""

from __future__ import annotations

import json
import math
import os
import platform
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).absolute().parent.parent  # not resolved: a symlinked bench/ runs its tree

# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


@dataclass
class Row:
    figure: str
    value: str
    target: str = ""
    ok: bool | None = None  # None: no target, shown for information

    @property
    def verdict(self) -> str:
        return "" if self.ok is None else ("pass" if self.ok else "MISS")


@dataclass
class Table:
    title: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, figure: str, value: str, target: str = "", ok: bool | None = None) -> None:
        self.rows.append(Row(figure, value, target, ok))

    def to_json(self) -> dict[str, Any]:
        return {"title": self.title, "rows": [asdict(r) for r in self.rows], "notes": self.notes}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Table:
        return cls(data["title"], [Row(**r) for r in data["rows"]], list(data["notes"]))

    def text(self) -> str:
        head = ("figure", "value", "target", "result")
        cells = [(r.figure, r.value, r.target, r.verdict) for r in self.rows]
        widths = [max([len(head[i]), *(len(c[i]) for c in cells)]) for i in range(4)]
        line = "  ".join("-" * w for w in widths)
        out = [self.title, "=" * len(self.title)]
        out.append("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)).rstrip())
        out.append(line)
        for c in cells:
            out.append("  ".join(v.ljust(w) for v, w in zip(c, widths, strict=True)).rstrip())
        out += [f"  * {n}" for n in self.notes]
        return "\n".join(out)

    def markdown(self) -> str:
        out = [f"### {self.title}", "", "| figure | value | target | result |", "|---|---|---|---|"]
        for r in self.rows:
            verdict = {"pass": "pass", "MISS": "**MISS**", "": ""}[r.verdict]
            cells = (r.figure, r.value, r.target, verdict)
            out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        if self.notes:
            out.append("")
            out += [f"- {n}" for n in self.notes]
        return "\n".join(out)


# --------------------------------------------------------------------------------------------
# Statistics and formatting
# --------------------------------------------------------------------------------------------


def pct(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100); nan for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def summary(values: Sequence[float]) -> dict[str, float]:
    return {
        "n": float(len(values)),
        "p50": pct(values, 50),
        "p95": pct(values, 95),
        "p99": pct(values, 99),
        "max": max(values) if values else math.nan,
        "mean": sum(values) / len(values) if values else math.nan,
    }


def ms(seconds: float) -> str:
    if math.isnan(seconds):
        return "n/a"
    value = seconds * 1000
    return f"{value:,.0f} ms" if value >= 100 else f"{value:.1f} ms"


def sec(seconds: float) -> str:
    return "n/a" if math.isnan(seconds) else f"{seconds:,.2f} s"


def mb(kib: float) -> str:
    return f"{kib / 1024:,.1f} MB"


def num(value: float, digits: int = 2) -> str:
    if math.isnan(value):
        return "n/a"
    if value == int(value) and abs(value) >= 1:
        return f"{int(value):,}"
    return f"{value:,.{digits}f}"


# --------------------------------------------------------------------------------------------
# The process
# --------------------------------------------------------------------------------------------


def proc_status_kib(key: str, pid: int | str = "self") -> int:
    """A `kB` line of /proc/<pid>/status (VmRSS: resident now, VmHWM: resident peak)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_kib() -> int:
    return proc_status_kib("VmRSS")


def peak_rss_kib() -> int:
    return proc_status_kib("VmHWM")


def thread_cpu() -> tuple[float, float]:
    """CPU seconds so far of (the main thread: the event loop, all other threads: SQLite's
    worker, asyncio.to_thread), from /proc/self/task/*/stat."""
    tick = os.sysconf("SC_CLK_TCK")
    main = other = 0.0
    pid = os.getpid()
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return (0.0, 0.0)
    for tid in tasks:
        try:
            with open(f"/proc/self/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        seconds = (int(fields[11]) + int(fields[12])) / tick  # utime + stime
        if int(tid) == pid:
            main += seconds
        else:
            other += seconds
    return (main, other)


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux: write 5 to clear_refs); False if not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def machine() -> dict[str, str]:
    model = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = "unknown"
    try:
        with open("/proc/meminfo") as f:
            total_kib = int(f.readline().split()[1])
            mem = f"{total_kib / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    try:
        from importlib.metadata import version

        libraries = " / ".join(
            version(name)
            for name in ("discord.py", "aiosqlite", "httpx", "httpx-aiohttp", "aiohttp")
        )
    except Exception:
        libraries = "?"
    return {
        "cores (nproc)": str(os.cpu_count()),
        "usable cores": str(len(os.sched_getaffinity(0))),
        "CPU": model,
        "memory": mem,
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "SQLite": sqlite3.sqlite_version,
        "discord.py / aiosqlite / httpx / httpx-aiohttp / aiohttp": libraries,
        "load average at start (1, 5 min)": "{:.2f}, {:.2f}".format(*os.getloadavg()[:2]),
    }


# --------------------------------------------------------------------------------------------
# The simulator process (bench/simserver.py), driven from the orchestrator
# --------------------------------------------------------------------------------------------


class SimProcess:
    """`python -m bench.simserver` in its own process, so that the bot's CPU and memory figures
    are the bot's alone and EvoLink's side runs on the other core, as a remote API would."""

    def __init__(
        self,
        *,
        task_seconds: float = 3600.0,
        batch: bool = True,
        video_bytes: int = 256 * 1024,
        latency_ms: float = 0.0,
    ) -> None:
        args = [sys.executable, "-m", "bench.simserver", "--task-seconds", str(task_seconds)]
        args += ["--video-bytes", str(video_bytes), "--latency-ms", str(latency_ms)]
        if not batch:
            args.append("--no-batch")
        self.proc = subprocess.Popen(
            args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if not line.startswith("READY "):
            self.stop()
            err = self.proc.stderr.read() if self.proc.stderr else ""
            raise RuntimeError(f"the simulator did not start: {line!r} {err}")
        self.url = line.split(" ", 1)[1]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> SimProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def sim_control(url: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """Call a /_bench endpoint of the simulator (blocking; for the orchestrator)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url + path, data=data, method="POST" if body is not None else "GET"
    )
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


# --------------------------------------------------------------------------------------------
# Running one job in a fresh process (bench/worker.py)
# --------------------------------------------------------------------------------------------


class JobFailed(RuntimeError):
    pass


def run_job(
    job: str, params: dict[str, Any], run_dir: Path, profile_dir: Path | None = None
) -> dict[str, Any]:
    """Run `python -m bench.worker job` and return the JSON it wrote."""
    out = run_dir / f"{job}-{time.monotonic_ns()}.json"
    params = {**params, "_spawned_at": time.time(), "_run_dir": str(run_dir)}
    args = [sys.executable, "-m", "bench.worker", job, "--params", json.dumps(params)]
    args += ["--out", str(out)]
    if profile_dir is not None:
        args += ["--profile", str(profile_dir)]
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0 or not out.exists():
        raise JobFailed(f"job {job} failed (exit {done.returncode}):\n{done.stderr[-4000:]}")
    return dict(json.loads(out.read_text()))


def progress(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def joined(items: Iterable[str]) -> str:
    return ", ".join(items)
