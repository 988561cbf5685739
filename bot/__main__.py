"""`python -m bot` runs the `deskbot` command (handy where the console script is not on PATH)."""

from bot.cli import main

if __name__ == "__main__":  # not when imported (multiprocessing's spawn and forkserver import the main module)
    raise SystemExit(main())
