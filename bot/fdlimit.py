"""The process's budget of open files (every socket counts): raised at start, read for caps."""

from __future__ import annotations

import logging
import resource

log = logging.getLogger(__name__)

UNLIMITED_TARGET = 65536  # where the hard limit is "unlimited", ask for this much


def open_file_limit() -> int:
    """How many files and sockets the process may hold open at once (the soft limit)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return UNLIMITED_TARGET if soft == resource.RLIM_INFINITY else soft


def raise_open_file_limit() -> None:
    """Raise the soft limit to the hard one. Systems often start processes at 1024 while
    allowing far more; the bot's connections to Discord, EvoLink and callers all draw on it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = UNLIMITED_TARGET if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft >= target:
        return
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError) as exc:
        log.info("open-file limit stays at %s (could not raise it: %s)", soft, exc)
        return
    log.info("open-file limit raised from %s to %s", soft, target)
