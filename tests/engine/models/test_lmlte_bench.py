"""The LMLTE bench entry runs and reports speed and memory per scale (tiny input)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from engine.bench import lmlte as bench


def test_bench_entry_reports_figures(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARBSR_BENCH_SIDE", "12")
    monkeypatch.setenv("ARBSR_BENCH_DEVICE", "cpu")
    monkeypatch.delenv("ARBSR_LMF_REFERENCE", raising=False)
    n = torch.get_num_threads()
    try:
        result = bench.run(tmp_path, quick=True)
    finally:
        torch.set_num_threads(n)
    json.dumps(result)  # JSON-able
    assert [r["scale"] for r in result["results"]] == [2.0, 3.5, 4.0, 8.0]
    for row in result["results"]:
        assert row["output"] == [round(12 * row["scale"])] * 2
        assert row["mp_per_s"] > 0 and row["peak_mb"] >= 0
    x8 = result["results"][-1]
    assert x8["cmsr"]["mp_per_s"] > 0
    assert isinstance(result["results"][0]["cmsr"], str)  # not used at or below x4
    assert result["official_compared"] is False


def test_peak_memory_sees_an_allocation() -> None:
    with bench.PeakMemory(torch.device("cpu")) as mem:
        block = torch.ones(64, 2 ** 20 // 4 * 4)  # 64 MB, touched
        del block
    assert mem.peak > 32 * 2 ** 20
