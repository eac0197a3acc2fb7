"""Command-line interface: ``thermognn <stage>``; each stage's subcommand in its own module."""
