"""What the bot counts for its metrics, as the rules see it: a tiny interface that imports
nothing, so no rule module depends on Prometheus. bot/metrics.py implements it; without
METRICS_PORT every call goes to NoInstruments and costs one empty method call."""

from __future__ import annotations

from typing import Protocol


class Instruments(Protocol):
    def request(self, outcome: str) -> None:
        """A member's request ended its first step: started, queued, or refused (and why)."""

    def credits_reserved(self, amount: float) -> None:
        """Credits held for a request when it was admitted."""

    def credits_spent(self, amount: float) -> None:
        """Credits finally charged for a finished video."""

    def evolink_call(self, route: str, error: str | None) -> None:
        """One HTTP exchange with EvoLink (`route`: create, task, batch, credits); `error` is
        the kind of failure (an EvoLinkError class name), None when it answered as hoped."""

    def delivered(self, lag_seconds: float) -> None:
        """A result reached the member this long after the video was finished."""


class NoInstruments:
    """Counts nothing (metrics are off)."""

    def request(self, outcome: str) -> None:
        pass

    def credits_reserved(self, amount: float) -> None:
        pass

    def credits_spent(self, amount: float) -> None:
        pass

    def evolink_call(self, route: str, error: str | None) -> None:
        pass

    def delivered(self, lag_seconds: float) -> None:
        pass


NO_INSTRUMENTS: Instruments = NoInstruments()
