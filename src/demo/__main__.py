"""``python -m src.demo``: see :mod:`src.demo.runner`."""
import sys

from src.demo.runner import main

if __name__ == "__main__":
    sys.exit(main())
