"""Subcommands of ``python -m engine`` (one module each; see :mod:`engine.cli`)."""
