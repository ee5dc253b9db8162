"""A Discord test double: one model of Discord's state, reached in-process or over loopback HTTP.

Not part of the bot (the bot's package is ``bot``/``cogs`` only); the tests and the benchmark
import it from the repository root.
"""
