"""Intervals that respect time (issue 14): the block bootstrap covers a known value and narrows
with more blocks; the recommendation serves ml only when its lead is clear of zero."""

from __future__ import annotations

import numpy as np

from volctl.core.evaluation import block_bootstrap, block_ids, episodes, recommend


def _case(blocks: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ts = np.arange(blocks * 60) * 5.0  # 60 rows per 5-minute block
    y = (rng.random(len(ts)) < 0.3).astype(int)
    return y, rng.random(len(ts)), ts


def test_the_interval_covers_the_known_value_and_narrows_with_more_blocks() -> None:
    def rate(yy: np.ndarray, _s: np.ndarray) -> float:
        return float(yy.mean())

    mean_widths = []
    for blocks in (20, 80, 320):
        covered, widths = 0, []
        for seed in range(30):
            y, scores, ts = _case(blocks, seed=1000 * blocks + seed)
            _, low, high = block_bootstrap(rate, y, scores, block_ids(ts), resamples=200)
            covered += low <= 0.3 <= high  # the true rate
            widths.append(high - low)
        assert covered >= 23, (blocks, covered)  # a 90 % interval: about 27 of 30
        mean_widths.append(np.mean(widths))
    assert mean_widths[0] > mean_widths[1] > mean_widths[2]


def test_ml_is_recommended_only_when_its_lead_is_clear() -> None:
    y, noise, ts = _case(200, seed=1)
    good = y + 0.5 * noise  # ranks spikes almost perfectly
    assert recommend(y, good, noise, ts)["variant"] == "ml"
    same = recommend(y, noise, noise[::-1].copy(), ts)
    assert same["variant"] == "baseline" and "does not clearly beat" in same["reason"]


def test_episodes_join_positive_ticks_within_the_horizon() -> None:
    ts = np.array([0, 10, 20, 200, 210, 1000], dtype=float)
    y = np.array([1, 1, 0, 1, 1, 1])
    assert episodes(y, ts, np.array(["BTC-USD"] * 6)) == 3


def test_pr_auc_equals_scikit_learns_average_precision_with_ties() -> None:
    from sklearn.metrics import average_precision_score

    from volctl.core.evaluation import pr_auc

    rng = np.random.default_rng(4)
    for rows in (10, 300, 5000):
        y = (rng.random(rows) < 0.2).astype(int)
        y[0] = 1
        for scores in (rng.random(rows), np.round(rng.random(rows), 1), np.zeros(rows)):  # ties, all tied
            assert abs(pr_auc(y, scores) - average_precision_score(y, scores)) < 1e-12
