"""Performance benchmark of the video bot: ``python -m bench`` (see bench/__main__.py).

Everything runs on loopback: the real bot code in-process on the recorded Discord layer (the
in-process transport of discord_double/), and the EvoLink simulator (bot/simulator/) in a separate
process. Nothing here is imported by the bot or by the tests.
"""
