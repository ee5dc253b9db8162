"""bot/request.py is the one description of a video request: every limit, choice, default and
output size of the product is read from it, never written again somewhere else."""

from __future__ import annotations

import ast
from pathlib import Path
from types import SimpleNamespace

from bot import request
from bot.request import VideoRequest, request_of_stored, stored_columns
from cogs.video import VideoCog

ROOT = Path(__file__).resolve().parent.parent
# The simulator keeps its own reading of EvoLink's page on purpose (checked against this one in
# tests/test_simulator_package.py); the catalogue holds texts, where the numbers are words.
NOT_SCANNED = {"bot/request.py", "bot/ui/i18n.py"}
REQUEST_FIELDS = {"quality", "aspect_ratio", "duration", "seed", "prompt_extend"}


def _product_sources() -> list[Path]:
    paths = sorted((ROOT / "bot").rglob("*.py")) + sorted((ROOT / "cogs").rglob("*.py"))
    names = [p.relative_to(ROOT).as_posix() for p in paths]
    return [
        ROOT / name
        for name in names
        if name not in NOT_SCANNED and not name.startswith("bot/simulator")
    ]


def _constant(node: ast.AST) -> object:
    """The value of a literal, or of a product of literals (15 * 1024 * 1024); else None."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        left, right = _constant(node.left), _constant(node.right)
        if isinstance(left, int) and isinstance(right, int):
            return left * right
    return None


def _spelled_again(tree: ast.AST) -> list[tuple[int, str]]:
    numbers = {request.PROMPT.max_length, request.SEED.maximum, request.AUDIO.max_bytes}
    sizes = {
        request.output_size(q, a) for q in request.OUTPUT_SIZES for a in request.OUTPUT_SIZES[q]
    }
    lists = (set(request.QUALITY.choices), set(request.ASPECT_RATIO.choices))
    defaults = {
        f.column: f.default
        for f in request.FIELDS
        if isinstance(f, request.Choice | request.Whole | request.Flag)
    }
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        value = _constant(node)
        if isinstance(value, int) and not isinstance(value, bool) and value in numbers:
            found.append((getattr(node, "lineno", 0), f"the limit {value}"))
        if isinstance(value, str) and (value in sizes or value == request.MODEL):
            found.append((getattr(node, "lineno", 0), f"{value!r}"))
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            items = {_constant(e) for e in node.elts}
            for choices in lists:
                if len(items & choices) >= 2:
                    found.append((node.lineno, f"the choices {sorted(choices)}"))
        if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or) and len(node.values) == 2:
            field, fallback = node.values
            name = field.attr if isinstance(field, ast.Attribute) else getattr(field, "id", "")
            if name in REQUEST_FIELDS and isinstance(fallback, ast.Constant):
                if fallback.value == defaults.get(name):
                    found.append((node.lineno, f"the default of {name}"))
    return found


def test_limits_choices_defaults_and_sizes_are_written_only_in_bot_request() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line}: {what}"
        for path in _product_sources()
        for line, what in _spelled_again(ast.parse(path.read_text(encoding="utf-8")))
    ]
    assert found == [], "read these from bot/request.py instead:\n" + "\n".join(found)


def test_the_scan_finds_what_it_looks_for() -> None:
    source = """
PROMPT_MAX = 5000
SEED_MAX = 2_147_483_647
AUDIO = 15 * 1024 * 1024
RATIOS = ("16:9", "9:16", "1:1")
QUALITIES = ["720p", "1080p"]
SIZE = "1280×720"
MODEL = "wan2.7-text-to-video"
shown = g.quality or "720p"
seconds = duration or 5
"""
    assert len(_spelled_again(ast.parse(source))) == 9


def test_the_video_command_offers_what_bot_request_allows() -> None:
    options = {p.name: p for p in VideoCog.video.parameters}
    limits = {
        "prompt": (1, request.PROMPT.max_length),
        "negative_prompt": (1, request.NEGATIVE_PROMPT.max_length),
        "duration": (request.DURATION.minimum, request.DURATION.maximum),
        "seed": (request.SEED.minimum, request.SEED.maximum),
    }
    for name, bounds in limits.items():
        assert (options[name].min_value, options[name].max_value) == bounds
    assert tuple(c.value for c in options["quality"].choices) == request.QUALITY.choices
    assert tuple(c.value for c in options["aspect_ratio"].choices) == request.ASPECT_RATIO.choices


def test_a_stored_request_is_the_request_it_was_made_from() -> None:
    made = VideoRequest(
        prompt="a fox",
        negative_prompt="blur",
        quality="1080p",
        aspect_ratio="4:3",
        duration=7,
        seed=42,
        prompt_extend=True,
        audio_url="https://cdn.example.com/a.mp3",
    )
    row = SimpleNamespace(**stored_columns(made))
    assert request_of_stored(row) == made
    with_callback = request_of_stored(row, "https://bot.example.com/cb/1/t")
    assert with_callback.to_json() == {
        **made.to_json(),
        "callback_url": "https://bot.example.com/cb/1/t",
    }
    assert set(stored_columns(made)) == {f.column for f in request.FIELDS}
    assert set(made.to_json()) == {"model"} | {f.api for f in request.FIELDS}
