"""The Discord side of the bot: the discord.py client, what members and moderators read, and the
languages they read it in. The rules elsewhere in bot/ return data and message keys; this
package and the cogs turn them into words and send them."""
