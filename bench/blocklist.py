"""How long checking a prompt against a server's blocklist takes (bot/blocklist.py, RE2).

    python -m bench.blocklist            # about 30 seconds on 2 cores
    python -m bench.blocklist --old 10   # also Python's `re`, as before, each cut off at 10 s

Every figure is one /video request: the whole blocklist against a 5,000-character prompt and a
500-character negative prompt (the most /video takes), the best of a few runs. Cases:
* pathological regexes, each of which made Python's `re` backtrack for minutes or more;
* a realistic list of 200 entries, and 200 words of the longest length;
* adversarial lists filled up to the caps (MAX_PROGRAM, MAX_POSITIONS), built to defeat RE2's
  fast DFA, on prompts chosen to make it build a new state at every byte: the worst case the
  caps have to bound.
"""

from __future__ import annotations

import argparse
import random
import re
import signal
import statistics
import time
from collections.abc import Callable, Sequence
from functools import partial
from types import FrameType

from bench.common import Table
from bot.blocklist import MAX_POSITIONS, MAX_PROGRAM, MAX_RULES, Checker, checked

Entries = list[tuple[str, bool]]

PATHOLOGICAL = [
    r"\w*\w*\w*z", r"(a*)*b", r"(a|a)*b", r"(x+x+)+y", r"(a+)+$", r"((ab)*c)+",
    r"(.*a){12}b", r"(\w+\s?)+!", r"^(a|aa)+$",
]  # fmt: skip
PATHOLOGICAL_PROMPT = "a" * 2500 + "x" * 2499 + "."


def timed(run: Callable[[], object], repeat: int = 5) -> float:
    """The best of `repeat` runs, in milliseconds."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best * 1000


def prompts(kind: str, rng: random.Random) -> tuple[str, str]:
    def text(length: int) -> str:
        if kind == "english":
            words = ["a", "cat", "runs", "through", "the", "misty", "forest", "at", "dawn,"]
            return " ".join(rng.choice(words) for _ in range(length))[:length]
        if kind == "chinese":  # three UTF-8 bytes a character: the longest input RE2 reads
            return "".join(chr(rng.randint(0x4E00, 0x9FFF)) for _ in range(length))
        if kind == "ab":  # what makes the DFA of the `a`/`b` lists above build a state a byte
            return "".join(rng.choice("ab") for _ in range(length))
        return "".join(rng.choice("aé猫 ab1_xzqж.") for _ in range(length))

    return text(5000), text(500)


def realistic(rng: random.Random) -> Entries:
    words = ["gore", "blood", "nude", "naked", "kill", "gun", "knife", "血腥", "裸体", "枪"]
    entries: Entries = [(f"{rng.choice(words)}{n}", False) for n in range(150)]
    entries += [(f"big {rng.choice(words)} {n}", False) for n in range(20)]
    regexes = [r"n[a4]ked", r"\bgun(s|ner)?\b", r"b[l1][o0]{2}d+", r"\w+ing\s+blood", r"^draw\b"]
    entries += [(f"{rng.choice(regexes)}{n}", True) for n in range(30)]
    return entries


def fill(make: Callable[[int], str]) -> Entries:
    """Regexes made by `make(n)` until one more would not fit MAX_PROGRAM."""
    entries: Entries = []
    for n in range(MAX_RULES):
        try:
            checked([*entries, (make(n), True)])
        except ValueError:
            break
        entries.append((make(n), True))
    return entries


ADVERSARIAL: dict[str, Callable[[int], str]] = {
    "optional \\w, counted": lambda n: rf"(?:\w?){{{8 + n % 5}}}{n}\x01",
    "\\w{n} windows": lambda n: rf"\w{{{10 + n % 7}}}{n}\x01",
    ".{n} windows": lambda n: rf".{{{20 + n}}}\x01",
    "(a|b.)*a.{n}": lambda n: rf"(?:a|b.)*a.{{{10 + n}}}\x01",
    "[ab]*a[ab]{n}": lambda n: rf"[ab]*a[ab]{{{12 + n}}}\x01",
    "(ab|ba|aa|bb){n}": lambda n: rf"(?:ab|ba|aa|bb){{{5 + n}}}\x01",
    "many .* alternatives": lambda n: rf"(?:.*a.*b.*c|.*d.*e|.*{n}){{3}}\x01",
    "long literals": lambda n: f"{n:03d}" + "ab" * 98 + "c",
}


def old_engine(entries: Sequence[str], prompt: str, cutoff: float) -> str:
    """Python's `re` as the blocklist used it, stopped after `cutoff` seconds (it checks for
    signals while it backtracks)."""

    def expire(signum: int, frame: FrameType | None) -> None:
        raise TimeoutError

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, cutoff)
    started = time.perf_counter()
    try:
        for pattern in entries:
            re.compile(pattern, re.IGNORECASE).search(prompt)
    except TimeoutError:
        return f"> {cutoff:g} s (stopped)"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    return f"{(time.perf_counter() - started) * 1000:.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--old", type=float, default=0, help="also time Python's re (cutoff, s)")
    args = parser.parse_args()
    rng = random.Random(8)
    table = Table("Blocklist: one /video request (5,000 + 500 characters), best of 5")

    patho = Checker([(p, True) for p in PATHOLOGICAL])
    ms = timed(lambda: patho.first_match(PATHOLOGICAL_PROMPT, "a" * 499 + "."))
    table.add(f"{len(PATHOLOGICAL)} pathological regexes, RE2", f"{ms:.2f} ms", "< 10 ms", ms < 10)
    if args.old:
        for pattern in PATHOLOGICAL[:3]:
            value = old_engine([pattern], PATHOLOGICAL_PROMPT, args.old)
            table.add(f"  /{pattern}/ alone, Python's re (before)", value)

    cases: list[tuple[str, Entries]] = [
        ("200 realistic entries", realistic(rng)),
        ("200 words of 99 characters", [(f"{n:03d}" + "word" * 24, False) for n in range(200)]),
    ]
    cases += [(f"{name}, up to the caps", fill(make)) for name, make in ADVERSARIAL.items()]
    worst = 0.0
    for name, entries in cases:
        started = time.perf_counter()
        checker = Checker(entries)
        compile_ms = (time.perf_counter() - started) * 1000
        runs = []
        for kind in ("english", "chinese", "mixed", "ab"):
            prompt, negative = prompts(kind, rng)
            runs.append(timed(partial(checker.first_match, prompt, negative), repeat=3))
        worst = max(worst, max(runs))
        table.add(
            f"{name}: {len(entries)} entries, {checker.size:,} instr., {checker.positions} pos.",
            f"{statistics.median(runs):.2f} ms median, {max(runs):.2f} ms worst "
            f"(compile {compile_ms:.0f} ms)",
        )
    table.add("worst request of any list above", f"{worst:.1f} ms", "< 250 ms", worst < 250)
    table.notes.append(
        f"caps per server: MAX_PROGRAM = {MAX_PROGRAM:,} RE2 instructions, "
        f"MAX_POSITIONS = {MAX_POSITIONS:,}"
    )
    table.notes.append("matching runs in a worker thread (RE2 releases the GIL)")
    print(table.text())


if __name__ == "__main__":
    main()
