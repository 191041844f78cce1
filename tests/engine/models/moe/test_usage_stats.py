"""Expert-usage statistics of the MoE bench (content classes, mutual information)."""

from __future__ import annotations

import numpy as np
import pytest

from engine.bench.moe import UsageStats, _nmi, content_classes


def test_nmi_extremes() -> None:
    assert _nmi(np.eye(3) * 10) == pytest.approx(1.0)
    assert _nmi(np.ones((3, 8))) == pytest.approx(0.0, abs=1e-12)


def test_content_classes_terciles_and_padding() -> None:
    hr = np.zeros((40, 40))
    hr[:, 24:] = np.random.default_rng(0).random((40, 16))  # texture on the right: gradients
    cls = content_classes(hr, 8, (6, 6))  # 5x5 patches inside, one row/column of padding
    assert (cls[5] == -1).all() and (cls[:, 5] == -1).all()
    assert cls[:5, :2].max() == 0 and cls[:5, 3:5].min() >= 1
    assert (cls == 2).sum() > 0 and (cls[:, :3] == 2).sum() == 0


class _Net:
    unshuffle, patch, levels = 1, 4, 1
    down_blocks, up_blocks = [0], [0]


def test_usage_stats_detects_content_routing() -> None:
    hr = np.zeros((16, 16))
    hr[:, 8:] = np.random.default_rng(1).random((16, 8))
    cls = content_classes(hr, 4, (4, 4))
    expert = np.where(cls == 2, 1, 0)  # edges always to expert 1, the rest to expert 0
    stats = UsageStats(blocks=1, experts=4)
    stats.add(_Net(), hr, [[expert]] * 6)
    row = stats.report(["b0"])[0]
    assert row["share_by_content"]["edges"][1] == 1.0
    assert row["share_by_content"]["flat"][0] == 1.0
    assert row["nmi_content"] > 0.4 and row["nmi_noise"] == pytest.approx(0.0, abs=1e-9)
