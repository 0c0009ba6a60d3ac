"""The original d_a's command-line entry (`python -m d_a.main`): the `d-a` command."""

from .cli import main

__all__ = ["main"]

if __name__ == "__main__":
    raise SystemExit(main())
