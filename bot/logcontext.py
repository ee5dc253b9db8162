"""Which video a log line is about: set around the work on one generation, read by the JSON
log format, so every line logged meanwhile (by the bot or a library) names the generation, the
server and the member. A context variable, so concurrent work on other videos keeps its own."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar


class AboutAGeneration(Protocol):
    @property
    def id(self) -> int: ...

    @property
    def guild_id(self) -> int | None: ...

    @property
    def user_id(self) -> int: ...


@dataclass(frozen=True)
class Subject:
    generation_id: int
    guild_id: int | None
    user_id: int


_subject: ContextVar[Subject | None] = ContextVar("log_subject", default=None)


@contextmanager
def about(generation: AboutAGeneration) -> Iterator[None]:
    """Every line logged inside the block (and in tasks started from it) is about `generation`."""
    token = _subject.set(Subject(generation.id, generation.guild_id, generation.user_id))
    try:
        yield
    finally:
        _subject.reset(token)


def current() -> Subject | None:
    return _subject.get()


S = TypeVar("S")
G = TypeVar("G", bound=AboutAGeneration)
P = ParamSpec("P")
R = TypeVar("R")


def about_generation(
    method: Callable[Concatenate[S, G, P], Awaitable[R]],
) -> Callable[Concatenate[S, G, P], Coroutine[Any, Any, R]]:
    """A method whose first argument is a generation: everything it logs is about that one."""

    @functools.wraps(method)
    async def logged(self: S, generation: G, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with about(generation):
            return await method(self, generation, *args, **kwargs)

    return logged
