"""Performance benchmark of the video bot (issue 8): ``python -m bench`` (see bench/__main__.py).

Everything runs on loopback: the real bot code in-process on the recorded Discord layer
(tests/discord_fake.py), and the EvoLink simulator (bot/simulator/) in a separate process.
Nothing here is imported by the bot or by the tests.
"""
