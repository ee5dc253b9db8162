"""The simulator as a package: it stays apart from the bot, every fault it has can be set both
from its command line and over HTTP, and its reading of the API agrees with the bot's."""

from __future__ import annotations

import ast
import asyncio
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bot import request
from bot.simulator import Simulator, rules
from bot.simulator.__main__ import build_parser, simulator_of
from bot.simulator.faults import FAULT_FIELDS, FaultRule
from bot.simulator.switches import Switches

ROOT = Path(__file__).resolve().parent.parent
SIMULATOR = ROOT / "bot" / "simulator"


# ---------------------------------------------------------------------------- import rules


def _imported(tree: ast.AST) -> set[str]:
    """Every module an AST imports, absolute (``from bot import x`` counts as ``bot.x``)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: inside the package itself
                names.add("bot.simulator" if node.level == 1 else "bot")
            elif node.module == "bot":
                names.update(f"bot.{alias.name}" for alias in node.names)
            elif node.module:
                names.add(node.module)
    return names


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def simulator_reaches_into_the_bot(source: str) -> list[str]:
    return sorted(
        n
        for n in _imported(ast.parse(source))
        if (_within(n, "bot") or _within(n, "cogs")) and not _within(n, "bot.simulator")
    )


def product_reaches_into_the_simulator(source: str) -> list[str]:
    return sorted(n for n in _imported(ast.parse(source)) if _within(n, "bot.simulator"))


def test_the_simulator_and_the_bot_do_not_import_each_other() -> None:
    simulator_files = sorted(SIMULATOR.glob("*.py"))
    assert len(simulator_files) >= 8  # one module per job, not one file
    wrong = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in simulator_files
        for name in simulator_reaches_into_the_bot(path.read_text(encoding="utf-8"))
    ]
    product = [
        p
        for p in sorted((ROOT / "bot").rglob("*.py")) + sorted((ROOT / "cogs").rglob("*.py"))
        if SIMULATOR not in p.parents
    ]
    wrong += [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in product
        for name in product_reaches_into_the_simulator(path.read_text(encoding="utf-8"))
    ]
    assert wrong == []


def test_the_import_scan_sees_every_spelling() -> None:
    assert simulator_reaches_into_the_bot(
        "import bot.evolink\nfrom bot import request\nfrom bot.store import Store\n"
        "from cogs.video import VideoCog\nfrom bot.simulator.rules import MODEL\nfrom . import x\n"
    ) == ["bot.evolink", "bot.request", "bot.store", "cogs.video"]
    assert product_reaches_into_the_simulator(
        "from bot import simulator\nimport bot.simulator.server\nfrom bot.simulator import X\n"
    ) == ["bot.simulator", "bot.simulator.server"]


# ------------------------------------------------------------- every fault, both ways


def _help() -> str:
    return " ".join(build_parser().format_help().split())  # argparse wraps lines anywhere


def _flags_and_keys(help_text: str) -> dict[str, tuple[str, str]]:
    """``--flag`` -> (control endpoint, JSON key) for every flag of the faults group."""
    faults = help_text.split(" faults: ", 1)[1].split(" fault rule fields ", 1)[0]
    found = re.findall(r"(--[a-z-]+)(?: [A-Z_]+)? .*? \[POST (/_sim/\w+): (\w+)(?:=\w+)?\]", faults)
    return {flag: (path, key) for flag, path, key in found}


CLI_FAULTS = [
    *("--fault", "route=create,status=503,retry_after=7,count=2,message=busy"),
    *("--fault", '{"route": "files", "body": "not a video", "always": true}'),
    *("--rate-limit", "3"),
    *("--create-rate-limit", "0.5"),
    *("--balance", "42"),
    *("--fail-rate", "0.25"),
    *("--credits-reserved", "lower"),
    *("--credits-used", "2.5"),
    "--ignore-idempotency-key",
    "--no-batch",
    *("--task-retention-seconds", "600"),
    *("--link-ttl-seconds", "60"),
    *("--progress-profile", "stuck-then-done"),
    *("--run-time-factors", "0.5,2"),
]
HTTP_FAULTS = {
    "/_sim/faults": {
        "rules": [
            {"route": "create", "status": 503, "retry_after": 7, "count": 2, "message": "busy"},
            {"route": "files", "body": "not a video", "always": True},
        ],
        "rate_limit_per_second": 3,
        "create_rate_limit_per_second": 0.5,
    },
    "/_sim/balance": {"balance": 42},
    "/_sim/switches": {
        "fail_rate": 0.25,
        "credits_reserved": "lower",
        "credits_used": 2.5,
        "honour_idempotency": False,
        "batch_enabled": False,
        "task_retention_seconds": 600,
        "link_ttl_seconds": 60,
        "progress_profile": "stuck-then-done",
        "run_time_factors": [0.5, 2],
    },
}


async def _state(sim: Simulator) -> dict[str, object]:
    async with httpx.AsyncClient(base_url=sim.base_url) as ctl:
        return {
            "faults": (await ctl.get("/_sim/faults")).json(),
            "switches": (await ctl.get("/_sim/switches")).json(),
            "balance": sim.balance,
        }


@pytest.fixture
async def plain_sim() -> AsyncIterator[Simulator]:
    sim = Simulator()
    await sim.start()
    yield sim
    await sim.stop()


async def test_every_fault_flag_has_an_http_key_and_every_http_key_a_flag(
    plain_sim: Simulator,
) -> None:
    flags = _flags_and_keys(_help())
    async with httpx.AsyncClient(base_url=plain_sim.base_url) as ctl:
        over_http = {
            *(("/_sim/faults", key) for key in (await ctl.get("/_sim/faults")).json()),
            *(("/_sim/switches", key) for key in (await ctl.get("/_sim/switches")).json()),
            ("/_sim/balance", "balance"),  # POST only: the balance is also in GET /v1/credits
        }
    assert set(flags.values()) == over_http
    group = next(g for g in build_parser()._action_groups if g.title == "faults")
    assert set(flags) == {a.option_strings[0] for a in group._group_actions}
    assert set(flags) == {arg for arg in CLI_FAULTS if arg.startswith("--")}


async def test_a_fault_set_from_the_command_line_is_the_same_set_over_http(
    plain_sim: Simulator,
) -> None:
    from_cli = simulator_of(build_parser().parse_args(CLI_FAULTS))
    await from_cli.start()
    try:
        async with httpx.AsyncClient(base_url=plain_sim.base_url) as ctl:
            for path, body in HTTP_FAULTS.items():
                assert (await ctl.post(path, json=body)).status_code == 200
        over_http, set_at_start = await _state(plain_sim), await _state(from_cli)
    finally:
        await from_cli.stop()
    assert over_http == set_at_start
    assert over_http["switches"] != Switches().to_json()


def test_every_field_of_a_fault_rule_is_in_the_help_and_accepted_both_ways() -> None:
    accepted = {f for f in FaultRule.__dataclass_fields__ if f != "hits"} | {"always"}
    assert set(FAULT_FIELDS) == accepted
    help_text = _help()
    listed = help_text.split(" fault rule fields (--fault, POST /_sim/faults): ", 1)[1]
    assert all(f" {name} " in f" {listed}" for name in FAULT_FIELDS)
    args = build_parser().parse_args(
        ["--fault", "route=files,redirect=https://elsewhere.example/v.mp4,content_type=video/mp4"]
    )
    [rule] = args.rules
    assert rule == FaultRule.from_json(
        {
            "route": "files",
            "redirect": "https://elsewhere.example/v.mp4",
            "content_type": "video/mp4",
        }
    )


@pytest.mark.parametrize(
    ("argv", "reason"),
    [
        (["--fault", "route=nowhere,status=500"], "route must be one of"),
        (["--fault", "status"], "'status' is not key=value"),
        (["--fault", "route=query"], "a fault needs one of"),
        (["--fault", '{"status": 500, "colour": "red"}'], "unknown fault field(s): colour"),
        (["--fail-rate", "2"], "fail_rate must be within 0..1"),
        (["--credits-used", "cheap"], "invalid billing_mode value: 'cheap'"),
        (["--task-retention-seconds", "0"], "task_retention_seconds must be a positive number"),
    ],
)
async def test_a_bad_fault_on_the_command_line_is_refused_with_the_reason(
    argv: list[str], reason: str
) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.simulator", "--port", "0", *argv,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(proc.communicate(), timeout=20)
    text = err.decode()
    assert proc.returncode == 2, text
    assert "python -m bot.simulator: error:" in text and reason in text, text
    assert "Traceback" not in text


async def test_switches_change_over_http_all_or_none(plain_sim: Simulator) -> None:
    async with httpx.AsyncClient(base_url=plain_sim.base_url) as ctl:
        bad = await ctl.post("/_sim/switches", json={"batch_enabled": False, "fail_rate": 3})
        assert bad.status_code == 400 and "fail_rate" in bad.json()["error"]["message"]
        assert (await ctl.post("/_sim/switches", json={"colour": 1})).status_code == 400
        assert (await ctl.get("/_sim/switches")).json() == Switches().to_json()
        changed = await ctl.post("/_sim/switches", json={"batch_enabled": False})
        assert changed.json()["batch_enabled"] is False
        batch = await ctl.post(
            "/v1/tasks/batch", json={"task_ids": []}, headers={"Authorization": "Bearer k"}
        )
        assert batch.status_code == 404 and batch.json()["error"]["code"] == "not_found"


# ------------------------------------------------- two readings of the same API page


def test_the_simulator_reads_the_request_limits_as_the_bot_does() -> None:
    assert rules.MODEL == request.MODEL
    assert rules.PROMPT_MAX == request.PROMPT.max_length
    assert rules.NEGATIVE_PROMPT_MAX == request.NEGATIVE_PROMPT.max_length
    assert rules.QUALITIES == request.QUALITY.choices
    assert rules.ASPECT_RATIOS == request.ASPECT_RATIO.choices
    assert (rules.DURATION_MIN, rules.DURATION_MAX) == (
        request.DURATION.minimum,
        request.DURATION.maximum,
    )
    assert (rules.SEED_MIN, rules.SEED_MAX) == (request.SEED.minimum, request.SEED.maximum)
    assert rules.AUDIO_URLS == request.AUDIO.count
    assert dict(rules.DEFAULTS) == {
        f.api: f.default
        for f in request.FIELDS
        if isinstance(f, request.Choice | request.Whole | request.Flag) and f.default is not None
    }
    assert rules.OUTPUT_SIZES == request.OUTPUT_SIZES
    assert rules.ALLOWED_FIELDS == {"model", request.CALLBACK_URL} | {f.api for f in request.FIELDS}
