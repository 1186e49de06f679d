"""The `nippo` command, split by concern; `bot.cli.main` assembles it."""
