"""Fixtures of the engine tests."""

from __future__ import annotations

import signal

import pytest

from engine import cli


@pytest.fixture
def run_cli(capsys):
    """Call engine.cli.main in-process; returns (code, stdout, stderr); restores signal handlers."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

    def call(*argv: object) -> tuple[int, str, str]:
        code = cli.main([str(a) for a in argv])
        out = capsys.readouterr()
        return code, out.out, out.err

    yield call
    for s, h in saved.items():
        signal.signal(s, h)
