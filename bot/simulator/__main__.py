"""``python -m bot.simulator``: run the simulator until SIGTERM or Ctrl-C (see ``--help``).

Every fault has a flag here and a way over HTTP while the simulator runs: the flags of the
"faults" group are named after the JSON keys of ``/_sim/faults``, ``/_sim/switches`` and
``/_sim/balance`` (tests/test_simulator_package.py holds the two to each other).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
from collections.abc import Sequence

from bot.simulator.faults import FAULT_FIELDS, FaultRule
from bot.simulator.profiles import PROGRESS_PROFILES, progress_profile, run_time_factors
from bot.simulator.server import Simulator
from bot.simulator.switches import BILLING_MODES, SWITCH_HELP, billing_mode

FAULTS_GROUP = "faults"


def fault_rule(spec: str) -> FaultRule:
    """A ``--fault`` value: ``route=create,status=429,count=2`` or the same as a JSON object.

    In the short form each value is read as JSON when it can be (numbers, true, false, null)
    and as text otherwise; a value holding a comma needs the JSON form."""
    text = spec.strip()
    try:
        if text.startswith("{"):
            data = json.loads(text)
        else:
            data = {}
            for item in filter(None, (part.strip() for part in text.split(","))):
                key, equals, value = item.partition("=")
                if not equals or not key.strip():
                    raise ValueError(f"{item!r} is not key=value")
                data[key.strip()] = _value(value.strip())
        return FaultRule.from_json(data)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"bad fault {spec!r}: {exc}") from None


def _value(text: str) -> object:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _switch(name: str, text: str | None = None, *, value: str = "") -> str:
    """A switch's help: what it does, then its JSON key (and the value the flag sets)."""
    return f"{text or SWITCH_HELP[name]} [POST /_sim/switches: {name}{value}]"


_EPILOG = (
    "fault rule fields (--fault, POST /_sim/faults):\n"
    + "".join(f"  {name:<19}{text}\n" for name, text in FAULT_FIELDS.items())
    + """
prompt markers (one task, from the bot's side):
  [[fail:CODE]]      the task ends failed with that code (e.g. content_policy_violation)
  [[never]]          the task never finishes
  [[used:MODE]]      usage.credits_used reported in that billing mode
  [[reserved:MODE]]  usage.credits_reserved reported in that billing mode
  [[progress:NAME]]  progress reported by that profile (see --progress-profile)
  [[runtime:X]]      the task runs X times its estimate (e.g. 1.67: the estimate 40 % short)

control endpoints (no auth):
  GET|POST|DELETE /_sim/faults     rules and rate limit (DELETE: none)
  GET|POST /_sim/switches          the switches above, by their [names]
  POST /_sim/balance               {"balance": N}
  POST /_sim/tasks/ID/complete     finish a task now ({"results": [...]}: these links)
  POST /_sim/tasks/ID/fail         fail a task now ({"code": ..., "message": ...})
  GET /_sim/tasks, /_sim/callbacks every task as queried; every callback attempt
"""
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot.simulator",
        description="Loopback simulator of the EvoLink video API (wan2.7-text-to-video), "
        "following docs/evolink-api.md.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8787, help="port to bind (8787)")
    parser.add_argument(
        "--api-key",
        action="append",
        dest="api_keys",
        metavar="KEY",
        help="accepted API key (repeatable); default: any non-empty Bearer token",
    )
    parser.add_argument("--task-seconds", type=float, default=20.0, help="create → terminal")
    parser.add_argument("--pending-seconds", type=float, default=2.0, help="time in pending")
    parser.add_argument("--video-bytes", type=int, default=256 * 1024, help="fake mp4 size")
    parser.add_argument(
        "--allow-insecure-callbacks",
        action="store_true",
        help="accept http:// and internal callback_url values",
    )
    parser.add_argument("--seed", type=int, default=1234, help="random seed (ids, fail rate)")
    parser.add_argument("--public-url", default=None, help="base URL used in result links")
    parser.add_argument("--access-log", action="store_true", help="log every request")

    faults = parser.add_argument_group(
        FAULTS_GROUP,
        "each can also be set while the simulator runs: the JSON key over HTTP is the name "
        "in [brackets]",
    )
    faults.add_argument(
        "--fault",
        action="append",
        type=fault_rule,
        dest="rules",
        default=[],
        metavar="SPEC",
        help="a fault rule, e.g. route=create,status=429,retry_after=3,count=2 or a JSON "
        "object; repeatable, tried in order; fields below [POST /_sim/faults: rules]",
    )
    faults.add_argument(
        "--rate-limit",
        type=float,
        default=None,
        dest="rate_limit_per_second",
        metavar="PER_SECOND",
        help="global rate limit on /v1 (429 with Retry-After) "
        "[POST /_sim/faults: rate_limit_per_second]",
    )
    faults.add_argument(
        "--create-rate-limit",
        type=float,
        default=None,
        dest="create_rate_limit_per_second",
        metavar="PER_SECOND",
        help="rate limit on creates only, after the global one (429 with Retry-After) "
        "[POST /_sim/faults: create_rate_limit_per_second]",
    )
    faults.add_argument(
        "--balance",
        type=float,
        default=10_000.0,
        help="starting credits; below a video's price, creates answer 402 insufficient_quota "
        "[POST /_sim/balance: balance]",
    )
    modes = f"{', '.join(BILLING_MODES)} or a number"
    faults.add_argument(
        "--fail-rate",
        type=float,
        default=0.0,
        metavar="FLOAT",
        help=_switch("fail_rate"),
    )
    faults.add_argument(
        "--credits-reserved",
        type=billing_mode,
        default="exact",
        metavar="MODE",
        help=_switch(
            "credits_reserved",
            f"how create answers report usage.credits_reserved: {modes} (default exact); a "
            "prompt's [[reserved:MODE]] marker overrides it for that task",
        ),
    )
    faults.add_argument(
        "--credits-used",
        type=billing_mode,
        default="exact",
        metavar="MODE",
        help=_switch(
            "credits_used",
            f"how completed tasks report usage.credits_used, the final charge: {modes}; lower, "
            "higher and numbers >= 0 are really charged, missing, negative and absurd are "
            "reporting faults (the reservation is charged); a prompt's [[used:MODE]] marker "
            "overrides it for that task",
        ),
    )
    faults.add_argument(
        "--ignore-idempotency-key",
        action="store_false",
        dest="honour_idempotency",
        help=_switch(
            "honour_idempotency",
            "ignore Idempotency-Key (unpublished at EvoLink): a repeated create makes and "
            "charges a second task",
            value="=false",
        ),
    )
    faults.add_argument(
        "--no-batch",
        action="store_false",
        dest="batch_enabled",
        help=_switch(
            "batch_enabled",
            "POST /v1/tasks/batch answers 404, as if EvoLink had no batch query",
            value="=false",
        ),
    )
    faults.add_argument(
        "--task-retention-seconds",
        type=float,
        default=None,
        metavar="SECONDS",
        help=_switch("task_retention_seconds"),
    )
    faults.add_argument(
        "--link-ttl-seconds",
        type=float,
        default=86400.0,
        metavar="SECONDS",
        help=_switch("link_ttl_seconds", SWITCH_HELP["link_ttl_seconds"] + " (default 86400)"),
    )
    faults.add_argument(
        "--progress-profile",
        type=progress_profile,
        default="linear",
        metavar="NAME",
        help=_switch(
            "progress_profile",
            f"how running tasks report progress: {', '.join(PROGRESS_PROFILES)} (default "
            "linear; see bot/simulator/profiles.py); a prompt's [[progress:NAME]] overrides it",
        ),
    )
    faults.add_argument(
        "--run-time-factors",
        type=_factors,
        default=(1.0, 1.0),
        metavar="LOW,HIGH",
        help=_switch(
            "run_time_factors",
            "each new task really runs its estimate (--task-seconds) times a factor drawn "
            "log-uniformly between LOW and HIGH, e.g. 0.5,2; one number: always that factor "
            "(default 1); a prompt's [[runtime:X]] overrides it",
        ),
    )
    return parser


def _factors(text: str) -> tuple[float, float]:
    try:
        return run_time_factors([float(part) for part in text.split(",")])
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def simulator_of(args: argparse.Namespace) -> Simulator:
    """The simulator the command line describes (ValueError on a value out of range)."""
    sim = Simulator(
        api_keys=set(args.api_keys) if args.api_keys else None,
        task_seconds=args.task_seconds,
        pending_seconds=args.pending_seconds,
        balance=args.balance,
        video_bytes=args.video_bytes,
        link_ttl_seconds=args.link_ttl_seconds,
        allow_insecure_callbacks=args.allow_insecure_callbacks,
        batch_enabled=args.batch_enabled,
        fail_rate=args.fail_rate,
        seed=args.seed,
        task_retention_seconds=args.task_retention_seconds,
        credits_reserved_mode=args.credits_reserved,
        credits_used_mode=args.credits_used,
        honour_idempotency=args.honour_idempotency,
        progress_profile=args.progress_profile,
        run_time_factors=args.run_time_factors,
    )
    for rule in args.rules:
        sim.faults.add(rule)
    if args.rate_limit_per_second:
        sim.faults.rate_limit_per_second = args.rate_limit_per_second
    if args.create_rate_limit_per_second:
        sim.faults.create_rate_limit_per_second = args.create_rate_limit_per_second
    return sim


async def _serve(sim: Simulator, args: argparse.Namespace) -> None:
    url = await sim.start(
        args.host, args.port, public_url=args.public_url, access_log=args.access_log
    )
    keys = (
        "any API key accepted"
        if sim.api_keys is None
        else f"{len(sim.api_keys)} API key{'s' if len(sim.api_keys) != 1 else ''} accepted"
    )
    print(f"EvoLink simulator listening on {url} ({keys})", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGTERM, stop.set)
    try:
        await stop.wait()
    finally:
        await sim.stop()


def main(argv: Sequence[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        sim = simulator_of(args)
    except ValueError as exc:
        parser.error(str(exc))
    logging.basicConfig(level=logging.INFO if args.access_log else logging.WARNING)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(sim, args))


if __name__ == "__main__":
    main()
