"""python -m bot.healthcheck: ask the running bot's /healthz (the container's HEALTHCHECK).

Exit 0 when the bot says it is healthy, 1 otherwise, printing its answer. Reads METRICS_PORT
and METRICS_HOST as the bot does (environment, then .env in the current folder).
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

from dotenv import load_dotenv

TIMEOUT = 5.0


def health_url() -> str | None:
    port = (os.environ.get("METRICS_PORT") or "").strip()
    if not port:
        return None
    host = (os.environ.get("METRICS_HOST") or "").strip() or "127.0.0.1"
    if host in ("0.0.0.0", "::", ""):  # listening everywhere: ask it here
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/healthz"


def main() -> int:
    load_dotenv(Path.cwd() / ".env")
    url = health_url()
    if url is None:
        print("METRICS_PORT is not set: the bot has no health endpoint to ask.", file=sys.stderr)
        return 1
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
            print(response.read().decode("utf-8", "replace").strip())
            return 0
    except urllib.error.HTTPError as exc:
        print(exc.read().decode("utf-8", "replace").strip(), file=sys.stderr)
    except OSError as exc:
        print(f"the bot's health endpoint did not answer: {exc}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
