"""By hand: ``python -m discord_double --port 8790`` serves the stand-in (REST, CDN, gateway)."""

from discord_double.server import main

main()
