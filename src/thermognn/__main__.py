"""``python -m thermognn``: the ``thermognn`` command (same subcommands and options)."""

from __future__ import annotations

import sys

from thermognn.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
