"""``python -m bot.simulator``: run the simulator until SIGTERM or Ctrl-C (see ``--help``)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from collections.abc import Sequence

from bot.simulator.server import Simulator
from bot.simulator.switches import billing_mode


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot.simulator",
        description="Loopback simulator of the EvoLink video API (wan2.7-text-to-video).",
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
    parser.add_argument("--balance", type=float, default=10_000.0, help="starting credits")
    parser.add_argument("--video-bytes", type=int, default=256 * 1024, help="fake mp4 size")
    parser.add_argument(
        "--link-ttl-seconds", type=float, default=86400.0, help="result link lifetime"
    )
    parser.add_argument(
        "--allow-insecure-callbacks",
        action="store_true",
        help="accept http:// and internal callback_url values",
    )
    parser.add_argument("--no-batch", action="store_true", help="POST /v1/tasks/batch → 404")
    parser.add_argument(
        "--fail-rate",
        type=float,
        default=0.0,
        metavar="FLOAT",
        help="fraction of tasks that end failed (generation_failed_no_content)",
    )
    parser.add_argument(
        "--credits-reserved",
        type=billing_mode,
        default="exact",
        metavar="MODE",
        help="how create answers report usage.credits_reserved: exact (default), lower (60%%), "
        "higher (150%%), missing, negative, absurd (1000x) or a number; a prompt's "
        "[[reserved:MODE]] marker overrides it for that task",
    )
    parser.add_argument(
        "--credits-used",
        type=billing_mode,
        default="exact",
        metavar="MODE",
        help="how completed tasks report usage.credits_used (the final charge), with the same "
        "modes; lower, higher and numbers >= 0 are really charged, missing, negative and absurd "
        "are reporting faults (the reservation is charged); a prompt's [[used:MODE]] marker "
        "overrides it for that task",
    )
    parser.add_argument(
        "--ignore-idempotency-key",
        action="store_true",
        help="ignore Idempotency-Key (unpublished at EvoLink): a repeated create makes and "
        "charges a second task",
    )
    parser.add_argument("--seed", type=int, default=1234, help="random seed (ids, fail rate)")
    parser.add_argument(
        "--rate-limit",
        type=float,
        default=None,
        metavar="PER_SECOND",
        help="global rate limit on /v1 (429 with Retry-After)",
    )
    parser.add_argument("--public-url", default=None, help="base URL used in result links")
    parser.add_argument("--access-log", action="store_true", help="log every request")
    return parser


async def _serve(args: argparse.Namespace) -> None:
    sim = Simulator(
        api_keys=set(args.api_keys) if args.api_keys else None,
        task_seconds=args.task_seconds,
        pending_seconds=args.pending_seconds,
        balance=args.balance,
        video_bytes=args.video_bytes,
        link_ttl_seconds=args.link_ttl_seconds,
        allow_insecure_callbacks=args.allow_insecure_callbacks,
        batch_enabled=not args.no_batch,
        fail_rate=args.fail_rate,
        seed=args.seed,
        credits_reserved_mode=args.credits_reserved,
        credits_used_mode=args.credits_used,
        honour_idempotency=not args.ignore_idempotency_key,
    )
    if args.rate_limit:
        sim.faults.rate_limit_per_second = args.rate_limit
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
    args = _build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.access_log else logging.WARNING)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
