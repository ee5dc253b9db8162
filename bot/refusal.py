"""What a rule answers when it says no: a message key of the catalogues (bot/locales/) and the
values of its placeholders, never words. The Discord side puts it into words in the reader's
language (bot.ui.client.error_text).

Values are data. Four names are shown as the reader's Discord shows them: `option` (an option's
name), `choices` (a tuple of choice names), `when` (a moment in seconds since the epoch, shown
relative to now in the reader's own time zone) and `hint` (a `Hint`: a sentence of its own, such
as what the member could ask for instead, worded by its own key).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Hint:
    """A further sentence a refusal carries: its message key and values."""

    key: str
    values: dict[str, object] = field(default_factory=dict)


class Refusal(Exception):
    """A rule said no; `message_key` and `message_values` say why. Its str is the key."""

    def __init__(self, message_key: str, /, **values: object) -> None:
        super().__init__(message_key)
        self.message_key = message_key
        self.message_values: dict[str, object] = values
