"""No token or key reaches the log, whatever formatter discord.py picked (colours included)."""

from __future__ import annotations

import io
import logging

import discord

from bot.logs import RedactingFormatter

KEY = "sk-evolink-very-secret-0123456789"


def test_secrets_are_masked_in_messages_and_tracebacks_even_with_colours() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    coloured = discord.utils._ColourFormatter()  # what discord.py uses on a terminal
    handler.setFormatter(RedactingFormatter(coloured, [KEY]))
    logger = logging.getLogger("test.redaction")
    logger.addHandler(handler)
    try:
        logger.error("calling with %s", KEY)
        try:
            raise RuntimeError(f"Authorization: Bearer {KEY}")
        except RuntimeError:
            logger.exception("request failed")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert KEY not in text
    assert text.count("********") == 2
