"""Lasting misbehaviours of the simulator, and the prompt markers that choose one for one task.

A switch holds until it is changed: set at start by a flag of ``python -m bot.simulator`` or
while it runs by ``POST /_sim/switches`` (``GET`` shows them). The JSON key of each switch is its
field name below. Faults that hit single requests are bot/simulator/faults.py's rules.

Credit figures: a task reports ``usage.credits_reserved`` and ``usage.credits_used`` in one of the
``BILLING_MODES`` or as a plain number. ``exact`` is what was really reserved, ``lower`` 60 % of
it (billed for a shorter video), ``higher`` 150 %, ``missing`` leaves the field out, ``negative``
is minus it and ``absurd`` 1000 times it. ``lower``, ``higher`` and numbers of 0 or more are what
the account is really charged; the other three are reporting faults (the account pays the
reservation).

Time figures: each task reports its progress by a profile (bot/simulator/profiles.py), and may
run longer or shorter than the ``estimated_time`` it announces (``run_time_factors``).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from bot.simulator.profiles import (
    PROGRESS_PROFILES,
    progress_profile,
    run_time_factor,
    run_time_factors,
)

BILLING_MODES: Final = ("exact", "lower", "higher", "missing", "negative", "absurd")
_BILLING_FORM: Final = r"(exact|lower|higher|missing|negative|absurd|-?\d+(?:\.\d+)?)"
_BILLING_FACTORS: Final[Mapping[str, float]] = {
    "exact": 1.0,
    "lower": 0.6,
    "higher": 1.5,
    "negative": -1.0,
    "absurd": 1000.0,
}
_FAIL_MARKER: Final = re.compile(r"\[\[fail:([A-Za-z0-9_.\-]+)\]\]")
_NEVER_MARKER: Final = "[[never]]"
_USED_MARKER: Final = re.compile(r"\[\[used:" + _BILLING_FORM + r"\]\]")
_RESERVED_MARKER: Final = re.compile(r"\[\[reserved:" + _BILLING_FORM + r"\]\]")
_PROGRESS_MARKER: Final = re.compile(r"\[\[progress:([a-z-]+)\]\]")
_RUNTIME_MARKER: Final = re.compile(r"\[\[runtime:(\d+(?:\.\d+)?)\]\]")
_T = TypeVar("_T")
#: The code a task ends with when ``fail_rate`` picks it.
RANDOM_FAILURE: Final = "generation_failed_no_content"


def billing_mode(value: str) -> str:
    """A checked billing mode: one of BILLING_MODES or a number (ValueError otherwise)."""
    if value in BILLING_MODES:
        return value
    try:
        number = float(value)
    except ValueError:
        raise ValueError(
            f"billing mode must be one of {', '.join(BILLING_MODES)} or a number"
        ) from None
    if not math.isfinite(number):
        raise ValueError("a billing figure must be a finite number")
    return value


def billed(mode: str, reserved: float) -> float | None:
    """The figure a task reports for `mode`, given what it really reserved (None: left out)."""
    if mode == "missing":
        return None
    factor = _BILLING_FACTORS.get(mode)
    return reserved * factor if factor is not None else float(mode)


def really_charged(mode: str, reserved: float) -> float:
    """What the account pays for a completed task whose final figure is reported by `mode`."""
    figure = billed(mode, reserved)
    if mode in ("missing", "negative", "absurd") or figure is None or figure < 0:
        return reserved  # a reporting fault: the account was charged the reservation
    return figure


@dataclass(frozen=True)
class PromptMarkers:
    """What a prompt asks of its own task: ``[[fail:CODE]]`` ends it failed with that code,
    ``[[never]]`` keeps it processing forever, ``[[used:MODE]]`` and ``[[reserved:MODE]]``
    report its credits in that billing mode, ``[[progress:PROFILE]]`` reports its progress so
    and ``[[runtime:X]]`` makes it run X times its estimate (whatever the switches say). A
    marker with a value the simulator does not know is ignored."""

    fail_code: str | None = None
    never: bool = False
    reserved_mode: str | None = None
    used_mode: str | None = None
    progress_profile: str | None = None
    run_time_factor: float | None = None

    @classmethod
    def read(cls, prompt: str) -> PromptMarkers:
        """The markers of a prompt as sent (before EvoLink would truncate it)."""
        fail = _FAIL_MARKER.search(prompt)
        used = _USED_MARKER.search(prompt)
        reserved = _RESERVED_MARKER.search(prompt)
        profile = _PROGRESS_MARKER.search(prompt)
        runtime = _RUNTIME_MARKER.search(prompt)
        return cls(
            fail_code=fail.group(1) if fail else None,
            never=_NEVER_MARKER in prompt,
            reserved_mode=reserved.group(1) if reserved else None,
            used_mode=used.group(1) if used else None,
            progress_profile=_known(progress_profile, profile.group(1)) if profile else None,
            run_time_factor=_known(run_time_factor, runtime.group(1)) if runtime else None,
        )


def _known(check: Callable[[str], _T], value: str) -> _T | None:
    try:
        return check(value)
    except ValueError:
        return None


@dataclass
class Switches:
    """The lasting switches (see the module docstring); ValueError on a value out of range."""

    fail_rate: float = 0.0
    credits_reserved: str = "exact"
    credits_used: str = "exact"
    honour_idempotency: bool = True
    batch_enabled: bool = True
    task_retention_seconds: float | None = None
    link_ttl_seconds: float = 86400.0
    progress_profile: str = "linear"
    run_time_factors: tuple[float, float] = (1.0, 1.0)

    def __post_init__(self) -> None:
        if not 0.0 <= self.fail_rate <= 1.0:
            raise ValueError("fail_rate must be within 0..1")
        self.credits_reserved = billing_mode(self.credits_reserved)
        self.credits_used = billing_mode(self.credits_used)
        if self.task_retention_seconds is not None and not self.task_retention_seconds > 0:
            raise ValueError("task_retention_seconds must be a positive number or null")
        if not self.link_ttl_seconds >= 0:
            raise ValueError("link_ttl_seconds must be a number >= 0")
        self.progress_profile = progress_profile(self.progress_profile)
        self.run_time_factors = run_time_factors(self.run_time_factors)

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["run_time_factors"] = list(self.run_time_factors)
        return data

    def updated(self, data: Any) -> Switches:
        """These switches with the ones named in ``data`` (a JSON object) changed; ValueError
        names the first bad field, and then nothing is changed."""
        if not isinstance(data, dict):
            raise ValueError("switches must be a JSON object")
        unknown = sorted(set(data) - set(SWITCH_HELP))
        if unknown:
            raise ValueError(f"unknown switch(es): {', '.join(unknown)}")
        changes: dict[str, Any] = {}
        for name, value in data.items():
            changes[name] = _SWITCH_TYPES[name](name, value)
        return dataclasses.replace(self, **changes)

    def update(self, data: Any) -> None:
        """Change the switches named in ``data`` in place, all or none (ValueError)."""
        new = self.updated(data)
        for field in dataclasses.fields(self):
            setattr(self, field.name, getattr(new, field.name))


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number")
    return float(value)


def _number_or_null(name: str, value: Any) -> float | None:
    return None if value is None else _number(name, value)


def _boolean(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be a boolean")
    return value


def _mode(name: str, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"{name} must be a billing mode or a number")
    return billing_mode(value if isinstance(value, str) else format(value, "g"))


def _profile(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be one of {', '.join(PROGRESS_PROFILES)}")
    return progress_profile(value)


def _factors(name: str, value: Any) -> tuple[float, float]:
    return run_time_factors(value)


_SWITCH_TYPES: Final = {
    "fail_rate": _number,
    "credits_reserved": _mode,
    "credits_used": _mode,
    "honour_idempotency": _boolean,
    "batch_enabled": _boolean,
    "task_retention_seconds": _number_or_null,
    "link_ttl_seconds": _number,
    "progress_profile": _profile,
    "run_time_factors": _factors,
}
#: What each switch does (``--help`` and ``GET /_sim/switches`` use the same names).
SWITCH_HELP: Final = {
    "fail_rate": f"fraction of new tasks that end failed ({RANDOM_FAILURE}), 0 to 1",
    "credits_reserved": "how create answers report usage.credits_reserved: a billing mode",
    "credits_used": "how completed tasks report usage.credits_used: a billing mode",
    "honour_idempotency": "false: ignore Idempotency-Key, a repeated create makes a second task",
    "batch_enabled": "false: POST /v1/tasks/batch answers 404, as if EvoLink had no batch query",
    "task_retention_seconds": "a task older than this answers 404 task_not_found (null: never)",
    "link_ttl_seconds": "a result link older than this answers 403 link_expired",
    "progress_profile": "how running tasks report progress: " + ", ".join(PROGRESS_PROFILES),
    "run_time_factors": "each new task runs its estimate times a factor drawn (log-uniformly) "
    "between [low, high]; one number: that factor",
}
