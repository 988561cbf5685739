"""`python -m bot` runs the `deskbot` command (handy where the console script is not on PATH)."""

from bot.cli import main

raise SystemExit(main())
