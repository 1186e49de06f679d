"""`python -m bot` is the `nippo` command."""

from bot.cli.main import main

main()
