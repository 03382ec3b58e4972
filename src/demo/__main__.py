"""``python -m src.demo``: see :mod:`src.demo.runner`."""
import sys

from src.demo.runner import build_parser, main

__all__ = ["build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main())
