"""Intervals that respect time (issue 14) and say how much they know (issue 23): the bootstrap
covers a known value and narrows with more blocks, resamples whole sessions when there are five or
more; the recommendation serves ml only with enough episodes and a lead clear of zero; alert lift."""

from __future__ import annotations

import numpy as np

from volctl.core.model.evaluation import (
    MIN_EPISODES,
    RECOMMEND_EPISODES,
    Rows,
    WeightedMetric,
    alert_lift,
    block_bootstrap,
    block_ids,
    decile_lift,
    episodes,
    median_ratio,
    median_ratio_by_weight,
    pr_auc,
    pr_auc_by_weight,
    recommend,
    variant_metrics,
)
from volctl.domain.figures import lift_text


def _case(blocks: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ts = np.arange(blocks * 60) * 5.0  # 60 rows per 5-minute block
    y = (rng.random(len(ts)) < 0.3).astype(int)
    return y, rng.random(len(ts)), ts


def _mean_of(y: np.ndarray) -> WeightedMetric:
    """The mean of the drawn rows (each row counted as often as it was drawn)."""
    return lambda weights: float(weights @ y / weights.sum())


def test_the_interval_covers_the_known_value_and_narrows_with_more_blocks() -> None:
    mean_widths = []
    for blocks in (20, 80, 320):
        covered, widths = 0, []
        for seed in range(30):
            y, _scores, ts = _case(blocks, seed=1000 * blocks + seed)
            _, low, high = block_bootstrap(_mean_of(y), y, block_ids(ts), resamples=200)
            covered += low <= 0.3 <= high  # the true rate
            widths.append(high - low)
        assert covered >= 23, (blocks, covered)  # a 90 % interval: about 27 of 30
        mean_widths.append(np.mean(widths))
    assert mean_widths[0] > mean_widths[1] > mean_widths[2]


def _rows(y: np.ndarray, ts: np.ndarray, sessions: np.ndarray | None = None) -> Rows:
    return Rows(y, ts, np.array(["BTC-USD"] * len(y), dtype=object), np.ones(len(y)), sessions)


def test_ml_is_recommended_only_when_its_lead_is_clear() -> None:
    y, noise, ts = _case(200, seed=1)
    good = y + 0.5 * noise  # ranks spikes almost perfectly
    assert recommend(_rows(y, ts), good, noise)["variant"] == "ml"
    same = recommend(_rows(y, ts), noise, noise[::-1].copy())
    assert same["variant"] == "baseline" and same["verdict"] == "no evidence that ml is better"
    assert "includes or lies below 0" in same["reason"]


def test_no_recommendation_from_fewer_than_ten_episodes() -> None:
    ts = np.arange(2000) * 1.0
    y = np.zeros(2000, dtype=int)
    for start in range(0, (RECOMMEND_EPISODES - 1) * 200, 200):  # nine episodes, 200 s apart
        y[start:start + 20] = 1
    assert episodes(y, ts, np.array(["BTC-USD"] * len(y))) == RECOMMEND_EPISODES - 1
    perfect = y + 0.01 * np.random.default_rng(3).random(len(y))
    found = recommend(_rows(y, ts), perfect, np.zeros(len(y)))
    assert found["variant"] == "baseline" and found["verdict"] == "not enough evidence: serving baseline"


def test_ml_that_alerts_before_calm_minutes_is_not_recommended() -> None:
    y, noise, ts = _case(200, seed=1)
    good = y + 0.5 * noise
    calm_after_alerts = {"alert_lift": {"median_ratio": 0.5}}
    found = recommend(_rows(y, ts), good, noise, calm_after_alerts)
    assert found["variant"] == "baseline" and "calmer minutes" in found["reason"]


def test_sessions_are_resampled_when_there_are_five_or_more() -> None:
    y, _, ts = _case(40, seed=2)
    four = np.array([f"s{i % 4}" for i in range(len(y))], dtype=object)
    five = np.array([f"s{i % 5}" for i in range(len(y))], dtype=object)
    assert _rows(y, ts, four).resampling == "40 5-minute blocks"
    assert _rows(y, ts, five).resampling == "5 sessions"
    assert _rows(y, ts).resampling == "40 5-minute blocks"


def test_whole_sessions_give_a_wider_interval_than_blocks_when_sessions_differ() -> None:
    """Blocks inside one session are alike; sessions are not: resampling blocks claims too much."""
    rng = np.random.default_rng(5)
    ts = np.arange(6000) * 5.0
    sessions = np.array([f"s{i // 1000}" for i in range(6000)], dtype=object)  # six sessions of 83 min
    rate = np.repeat([0.05, 0.3, 0.1, 0.4, 0.02, 0.2], 1000)
    y = (rng.random(6000) < rate).astype(int)

    by_blocks = block_bootstrap(_mean_of(y), y, block_ids(ts))
    by_sessions = block_bootstrap(_mean_of(y), y, _rows(y, ts, sessions).units)
    assert by_sessions[2] - by_sessions[1] > 2 * (by_blocks[2] - by_blocks[1])


def test_too_few_episodes_give_no_interval() -> None:
    ts = np.arange(600) * 1.0
    y = np.zeros(600, dtype=int)
    y[100:110] = 1
    y[400:405] = 1  # two episodes
    scores = y + 0.3 * np.random.default_rng(1).random(600)
    metrics = variant_metrics(y, scores, 0.5, _rows(y, ts))
    assert metrics["episodes"] == 2 < MIN_EPISODES
    assert np.isnan(metrics["pr_auc_interval"]).all() and metrics["interval_note"] == "too few episodes: 2 of 3"
    lift = metrics["alert_lift"]  # no interval from resampling two episodes' rows either
    assert np.isnan(lift["median_ratio_interval"]).all() and np.isnan(lift["decile_lift_interval"]).all()
    assert lift["interval_note"] == "too few episodes: 2 of 3"
    assert lift_text(lift).endswith("(too few episodes: 2 of 3)") and "[" not in lift_text(lift)


def test_alert_lift_reads_the_next_minutes_volatility() -> None:
    fwd = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 4.0, 8.0])
    before_volatile = np.array([0, 0, 0, 0, 0, 0, 0, 0, 1, 1], dtype=bool)
    assert median_ratio(before_volatile, fwd) == 6.0
    top = fwd > np.quantile(fwd, 0.9)  # the 8.0 minute
    # no top-decile minute after silence: large and finite (Haldane: 1.5/3 against 0.5/9), never unknown
    assert decile_lift(before_volatile, top) == (1.5 / 3) / (0.5 / 9)
    assert np.isnan(decile_lift(np.ones(10, dtype=bool), top))  # no silence to compare with: unknown
    top_two = fwd >= 4.0
    half = np.array([0, 0, 0, 0, 0, 0, 0, 1, 1, 0], dtype=bool)  # one of two alerts, one of eight silences
    assert decile_lift(half, top_two) == (1 / 2) / (1 / 8)
    before_calm = ~before_volatile
    assert median_ratio(before_calm, fwd) == 1.0 / 6.0
    assert np.isnan(median_ratio(np.zeros(10, dtype=bool), fwd))  # never alerting: unknown
    rows = Rows(np.zeros(10, dtype=int), np.arange(10) * 60.0, np.array(["P"] * 10, dtype=object), fwd)
    found = alert_lift(before_volatile, rows)
    assert found["median_ratio"] == 6.0 and found["alerts"] == 2


def test_episodes_join_positive_ticks_within_the_horizon() -> None:
    ts = np.array([0, 10, 20, 200, 210, 1000], dtype=float)
    y = np.array([1, 1, 0, 1, 1, 1])
    assert episodes(y, ts, np.array(["BTC-USD"] * 6)) == 3


def test_pr_auc_equals_scikit_learns_average_precision_with_ties() -> None:
    from sklearn.metrics import average_precision_score

    from volctl.core.model.evaluation import pr_auc

    rng = np.random.default_rng(4)
    for rows in (10, 300, 5000):
        y = (rng.random(rows) < 0.2).astype(int)
        y[0] = 1
        for scores in (rng.random(rows), np.round(rng.random(rows), 1), np.zeros(rows)):  # ties, all tied
            assert abs(pr_auc(y, scores) - average_precision_score(y, scores)) < 1e-12



def _bootstrap_of_rows(metric, y, scores, blocks, resamples=400, level=0.9, seed=7, both_classes=True):  # type: ignore[no-untyped-def]
    """The bootstrap as it was: each resample's rows concatenated, the metric computed on them."""
    point = metric(y, scores)
    unique, inverse = np.unique(blocks, return_inverse=True)
    members = [np.flatnonzero(inverse == b) for b in range(len(unique))]
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(resamples):
        rows = np.concatenate([members[b] for b in rng.integers(0, len(members), len(members))])
        if not both_classes or 0 < y[rows].sum() < len(rows):
            value = metric(y[rows], scores[rows])
            if value == value:
                values.append(value)
    low, high = np.percentile(values, [5, 95])
    return point, float(low), float(high)


def test_the_bootstrap_by_row_weights_equals_resampling_the_rows_exactly() -> None:
    """Counting how often each row was drawn gives the very figures of the resampled rows: same
    draws, same ties, same medians; only no sort per resample (training spent half its time there)."""
    rng = np.random.default_rng(3)
    ts = np.arange(3000) * 5.0
    y = (rng.random(len(ts)) < 0.12).astype(int)
    scores = np.round(rng.random(len(ts)) + y * 0.3, 2)  # many ties
    fwd = np.round(rng.lognormal(size=len(ts)) * (1 + y), 3)
    fwd[17] = np.nan  # an outcome not known yet
    alerts = scores > 0.9
    top = fwd > np.nanquantile(fwd, 0.9)
    blocks = block_ids(ts)
    assert block_bootstrap(pr_auc_by_weight(y, scores), y, blocks) == _bootstrap_of_rows(pr_auc, y, scores, blocks)
    pair = np.column_stack([alerts, fwd, top])
    by_rows = _bootstrap_of_rows(lambda _y, p: median_ratio(p[:, 0], p[:, 1]), y, pair, blocks, both_classes=False)
    by_weight = block_bootstrap(median_ratio_by_weight(alerts, fwd), y, blocks, both_classes=False)
    assert np.isnan(by_weight[0]) and by_weight[1:] == by_rows[1:] and np.isnan(by_rows[0])
    finite = ~np.isnan(fwd)
    assert (block_bootstrap(median_ratio_by_weight(alerts[finite], fwd[finite]), y[finite], blocks[finite],
                               both_classes=False)
            == _bootstrap_of_rows(lambda _y, p: median_ratio(p[:, 0], p[:, 1]), y[finite], pair[finite],
                                  blocks[finite], both_classes=False))
    assert (block_bootstrap(lambda w: decile_lift(alerts, top, w), y, blocks, both_classes=False)
            == _bootstrap_of_rows(lambda _y, p: decile_lift(p[:, 0], p[:, 2].astype(bool)), y, pair, blocks,
                                  both_classes=False))
