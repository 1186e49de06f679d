"""`python -m bot` is the `nippo` command."""

from bot.cli import main

main()
