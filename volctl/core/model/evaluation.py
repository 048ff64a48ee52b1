"""How good a variant is on held-out rows, with intervals that say how much the rows know.

Rows of one spike episode, or of one recording session, are not independent: intervals come from a
bootstrap over whole sessions (contiguous recording segments) when there are at least MIN_SESSIONS
of them, else over 5-minute blocks, and every result says which. Below MIN_EPISODES spike episodes
an interval means nothing and none is given ("too few episodes"); below RECOMMEND_EPISODES no
recommendation is made ("not enough evidence: serving baseline").

Alert lift is the figure everyone reads: for a variant at its served threshold, the median absolute
next-60 s volatility when it alerts divided by that when it is silent, and P(the next 60 s is in the
top decile of absolute volatility | alert) / P(... | silent). A variant can score well on its own
label and still alert before calm minutes; this says so.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from volctl.domain import variants
from volctl.domain.labels import HORIZON_S
from volctl.domain.model import labels_of
from volctl.domain.variants import LEAD

if TYPE_CHECKING:
    from volctl.domain.model import Scorer

BLOCK_S = 300.0
MIN_SESSIONS = 5  # fewer sessions than this: resample 5-minute blocks instead
MIN_EPISODES = 3  # fewer spike episodes: no interval ("too few episodes")
RECOMMEND_EPISODES = 10  # fewer: no recommendation of ml ("not enough evidence: serving baseline")
RESAMPLES = 400
LEVEL = 0.9
TOP_DECILE = 0.9
WeightedMetric = Callable[[np.ndarray], float]  # row weights (how many times each row was drawn) -> value
NAN = float("nan")


@dataclass
class Rows:
    """Labelled rows a variant is judged on, with what the intervals resample."""

    y: np.ndarray
    ts: np.ndarray
    products: np.ndarray
    fwd_vol: np.ndarray  # absolute realised volatility of each row's next 60 s (alert lift)
    units: np.ndarray = field(init=False)  # the resampling unit of each row
    resampling: str = field(init=False)  # "N sessions" or "N 5-minute blocks"
    sessions: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.units, self.resampling = resampling_units(self.ts, self.sessions)

    @property
    def episodes(self) -> int:
        return episodes(self.y, self.ts, self.products)


def resampling_units(ts: np.ndarray, sessions: np.ndarray | None) -> tuple[np.ndarray, str]:
    """Whole sessions when there are at least MIN_SESSIONS, else 5-minute blocks; and which."""
    if sessions is not None:
        count = len(set(sessions.tolist()))
        if count >= MIN_SESSIONS:
            return np.unique(sessions, return_inverse=True)[1], f"{count} sessions"
    blocks = block_ids(ts)
    return blocks, f"{len(np.unique(blocks))} 5-minute blocks"


def block_ids(ts: np.ndarray, block_s: float = BLOCK_S) -> np.ndarray:
    return np.floor(np.asarray(ts, dtype=float) / block_s).astype(np.int64)


def block_bootstrap(metric: WeightedMetric, y: np.ndarray, blocks: np.ndarray, resamples: int = RESAMPLES,
                    level: float = LEVEL, seed: int = 7, both_classes: bool = True) -> tuple[float, float, float]:
    """(point value, low, high): the metric on all rows, and the central `level` interval of the
    metric over resamples of whole units (sessions or blocks, drawn with replacement). A resample is
    how many times it drew each row, so a metric that ranks the rows once (pr_auc_by_weight) needs
    no sort per resample."""
    y = np.asarray(y)
    point = metric(np.ones(len(y), dtype=np.int64))
    unique, inverse = np.unique(blocks, return_inverse=True)
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(resamples):
        weights = np.bincount(rng.integers(0, len(unique), len(unique)), minlength=len(unique))[inverse]
        positives, total = int(weights @ y), int(weights.sum())
        if not both_classes or 0 < positives < total:  # PR-AUC needs both classes
            value = metric(weights)
            if value == value:
                values.append(value)
    if not values:
        return point, NAN, NAN
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return point, float(low), float(high)


def pr_auc(y: np.ndarray, scores: np.ndarray) -> float:
    """Average precision, as scikit-learn's average_precision_score computes it (ties form one
    threshold), in plain numpy: the bootstrap calls it thousands of times and sklearn's input
    checks cost more than the arithmetic (a test keeps the two equal)."""
    return pr_auc_by_weight(y, scores)(np.ones(len(y), dtype=np.int64))


def pr_auc_by_weight(y: np.ndarray, scores: np.ndarray) -> WeightedMetric:
    """pr_auc of the rows each drawn `weights[i]` times, the rows ranked once."""
    order = np.argsort(-np.asarray(scores), kind="mergesort")
    ranked, hits = np.asarray(scores)[order], np.asarray(y)[order]

    def value(weights: np.ndarray) -> float:
        drawn = weights[order]
        kept = drawn > 0
        scores_kept, counts = ranked[kept], drawn[kept]
        last = np.r_[np.flatnonzero(np.diff(scores_kept)), len(scores_kept) - 1]  # the last row of each score
        true_positives = np.cumsum(hits[kept] * counts)[last]
        if not len(true_positives) or true_positives[-1] == 0:
            return 0.0
        precision = true_positives / np.cumsum(counts)[last]
        recall = true_positives / true_positives[-1]
        return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))

    return value


def episodes(y: np.ndarray, ts: np.ndarray, products: np.ndarray) -> int:
    """Spike episodes: positive ticks of a product closer than the label horizon are one episode."""
    count = 0
    for name in np.unique(products):
        times = np.sort(np.asarray(ts)[(products == name) & (y == 1)])
        count += int(len(times) > 0) + int((np.diff(times) > HORIZON_S).sum())
    return count


# ----------------------------------------------------------------------------- alert lift


def median_ratio(alerts: np.ndarray, fwd_vol: np.ndarray) -> float:
    """Median next-60 s volatility when alerting / when silent; NaN when either side is empty or calm."""
    alerts = alerts.astype(bool)
    if alerts.all() or not alerts.any():
        return NAN
    silent = float(np.median(fwd_vol[~alerts]))
    return float(np.median(fwd_vol[alerts])) / silent if silent > 0 else NAN


def decile_lift(alerts: np.ndarray, top: np.ndarray, weights: np.ndarray | None = None) -> float:
    """P(next 60 s in the top decile | alert) / P(... | silent); NaN without both alerts and silences.
    A zero count adds a half to every count (Haldane's correction): every top-decile minute after an
    alert is a large finite lift, not an unknown one. `weights`: how many times each row counts."""
    alerts = alerts.astype(bool)
    drawn = np.ones(len(alerts), dtype=np.int64) if weights is None else weights
    after_alerts, after_silence = drawn[alerts], drawn[~alerts]
    if not after_alerts.any() or not after_silence.any():
        return NAN
    counts = np.array([after_alerts[top[alerts]].sum(), after_alerts.sum(), after_silence[top[~alerts]].sum(),
                       after_silence.sum()], dtype=float)
    if counts[0] == 0 or counts[2] == 0:
        counts += [0.5, 1.0, 0.5, 1.0]
    return float((counts[0] / counts[1]) / (counts[2] / counts[3]))


def median_ratio_by_weight(alerts: np.ndarray, fwd_vol: np.ndarray) -> WeightedMetric:
    """median_ratio of the rows each drawn `weights[i]` times, the volatilities sorted once."""
    order = np.argsort(fwd_vol, kind="stable")
    values, alerting = np.asarray(fwd_vol, dtype=float)[order], alerts.astype(bool)[order]
    unknown = np.isnan(values)  # sorted last

    def median(counts: np.ndarray) -> float:  # np.median of the drawn rows: the middle one, or the mean of two
        if counts[unknown].any():
            return NAN
        drawn = np.cumsum(counts)
        total = int(drawn[-1])
        middle = values[np.searchsorted(drawn, [(total - 1) // 2, total // 2], side="right")]
        return float(np.mean(middle))

    def value(weights: np.ndarray) -> float:
        drawn = weights[order]
        after_alerts = np.where(alerting, drawn, 0)
        after_silence = drawn - after_alerts
        if not after_alerts.any() or not after_silence.any():
            return NAN
        silent = median(after_silence)
        return median(after_alerts) / silent if silent > 0 else NAN

    return value


def too_few_episodes(found: int) -> str:
    return f"too few episodes: {found} of {MIN_EPISODES}"


def alert_lift(alerts: np.ndarray, rows: Rows, with_intervals: bool = True) -> dict[str, Any]:
    """Both lifts of these alerts on these rows, with bootstrap intervals over the rows' units."""
    fwd = rows.fwd_vol
    top = fwd > np.quantile(fwd, TOP_DECILE) if len(fwd) else np.zeros(0, dtype=bool)
    found: dict[str, Any] = {"alerts": int(alerts.sum()), "alert_rate": float(alerts.mean()) if len(alerts) else NAN}
    episodes_found = rows.episodes if with_intervals else 0
    if with_intervals and episodes_found < MIN_EPISODES:  # resampling so few says nothing: [0.94, 0.94]
        with_intervals, found["interval_note"] = False, too_few_episodes(episodes_found)
    for name, metric in (("median_ratio", median_ratio_by_weight(alerts, fwd)),
                         ("decile_lift", lambda weights: decile_lift(alerts, top, weights))):
        if with_intervals:
            value, low, high = block_bootstrap(metric, rows.y, rows.units, both_classes=False)
        else:
            value, low, high = metric(np.ones(len(fwd), dtype=np.int64)), NAN, NAN
        found[name], found[f"{name}_interval"] = value, [low, high]
    return found


# ----------------------------------------------------------------------------- against chance

ALERT_RATE_RANGE = (0.02, 0.40)  # an alert on fewer or more of a session's ticks tells little


def chance_skill(y: np.ndarray, scores: np.ndarray, alerts: np.ndarray, rows: Rows) -> dict[str, Any]:
    """What a spike scorer knows beyond chance: PR-AUC minus the base rate (a scorer without skill
    gets the base rate), the alert lift within a session (each row's next-60 s volatility over its
    session's median, so a session's alerts are judged against its own silences, not against a
    calmer session), and the alert rate of each session; each with its interval, and in words."""
    # (A session's mean, not its median: in a calm session most minutes do not move the mid at all.)
    found = rows.episodes
    auc = pr_auc_by_weight(y, scores)
    if found >= MIN_EPISODES:
        value, low, high = block_bootstrap(lambda w: auc(w) - float(y @ w) / float(w.sum()), y, rows.units)
    else:
        value, low, high = auc(np.ones(len(y), dtype=np.int64)) - float(y.mean()), NAN, NAN
    sessions = rows.sessions if rows.sessions is not None else rows.units
    within = _within_session(rows.fwd_vol, sessions)
    lift, lift_low, lift_high = block_bootstrap(median_ratio_by_weight(alerts, within), y, rows.units,
                                                both_classes=False)
    rates = {str(session): float(alerts[sessions == session].mean()) for session in np.unique(sessions)}
    outside = {s: r for s, r in rates.items() if not ALERT_RATE_RANGE[0] <= r <= ALERT_RATE_RANGE[1]}
    verdict = ("too few episodes to judge" if low != low else "skill" if low > 0
               else "worse than chance" if high < 0 else "no evidence of skill")
    return {"pr_auc_minus_base_rate": value, "interval": [low, high], "verdict": verdict,
            "within_session_lift": lift, "within_session_lift_interval": [lift_low, lift_high],
            "alert_rate_by_session": rates, "alert_rate_range": list(ALERT_RATE_RANGE),
            "sessions_outside_range": len(outside), "sessions": len(rates)}


def _within_session(fwd_vol: np.ndarray, sessions: np.ndarray) -> np.ndarray:
    """Each row's next-60 s volatility over its session's mean (1 in a session that never moved)."""
    out = np.ones(len(fwd_vol))
    for session in np.unique(sessions):
        rows = sessions == session
        mean = float(np.mean(fwd_vol[rows]))
        if mean > 0:
            out[rows] = fwd_vol[rows] / mean
    return out


def skill_line(skill: dict[str, Any] | None) -> str:
    """One line for people: the spike alerts against chance, in numbers and in words."""
    if not skill:
        return "against chance: not measured"
    low, high = skill.get("interval") or (NAN, NAN)
    text = f"against chance: PR-AUC - base rate {skill['pr_auc_minus_base_rate']:+.3f}"
    text += f" [{low:+.3f}, {high:+.3f}]" if low == low else ""
    text += f": {skill['verdict']}"
    lift, (l_low, l_high) = skill.get("within_session_lift", NAN), skill.get("within_session_lift_interval", [NAN, NAN])
    if lift == lift:
        text += f"; within-session lift {lift:.2f}x" + (f" [{l_low:.2f}, {l_high:.2f}]" if l_low == l_low else "")
    rates = list((skill.get("alert_rate_by_session") or {}).values())
    if rates:
        text += (f"; alert rate per session {min(rates):.0%}-{max(rates):.0%}"
                 + (f" ({skill['sessions_outside_range']} of {len(rates)} outside 2-40 %)"
                    if skill.get("sessions_outside_range") else ""))
    return text


# ----------------------------------------------------------------------------- variants


def variant_metrics(y: np.ndarray, scores: np.ndarray, threshold: float, rows: Rows) -> dict[str, Any]:
    from sklearn.metrics import brier_score_loss, f1_score, precision_score, recall_score, roc_auc_score

    predicted = labels_of(scores, threshold)
    found = rows.episodes
    if found >= MIN_EPISODES:
        value, low, high = block_bootstrap(pr_auc_by_weight(y, scores), y, rows.units)
    else:
        value, low, high = pr_auc(y, scores), NAN, NAN
    base = float(y.mean())
    brier, constant = float(brier_score_loss(y, np.clip(scores, 0, 1))), base * (1 - base)
    return {
        "pr_auc": value, "pr_auc_interval": [low, high], "interval_level": LEVEL, "resampling": rows.resampling,
        "interval_note": "" if found >= MIN_EPISODES else too_few_episodes(found),
        "roc_auc": float(roc_auc_score(y, scores)),
        "f1": float(f1_score(y, predicted, zero_division=0)),
        "precision": float(precision_score(y, predicted, zero_division=0)),
        "recall": float(recall_score(y, predicted, zero_division=0)),
        "brier": brier, "brier_constant": constant, "brier_worse_than_constant": brier > constant,
        "positive_rate": base, "episodes": found, "rows": len(y),
        "reliability": reliability(y, scores),
        "alert_lift": alert_lift(predicted, rows),
        "skill": chance_skill(y, scores, predicted, rows),
    }


@dataclass
class Evaluated:
    metrics: dict[str, dict[str, Any]]  # per variant
    curves: dict[str, dict[str, Any]]  # per variant: the precision-recall curve, for plots
    recommendation: dict[str, Any] | None  # None unless the reference and a candidate were scored


def evaluate_variants(scorers: Sequence[Scorer], x: np.ndarray, rows: Rows) -> Evaluated:
    """Every variant on the same labelled rows, and the recommendation among them."""
    scores = {s.variant: s.score(x) for s in scorers}
    metrics = {s.variant: variant_metrics(rows.y, scores[s.variant], s.decision_threshold, rows) for s in scorers}
    curves = {variant: {"precision_recall": pr_curve(rows.y, values)} for variant, values in scores.items()}
    return Evaluated(metrics, curves, recommendation(rows, scores, metrics))


def recommendation(rows: Rows, scores: dict[str, np.ndarray], metrics: dict[str, dict[str, Any]]
                   ) -> dict[str, Any] | None:
    """Every candidate against the reference on the same rows: the one served is the candidate with a
    clear lead (see `recommend`) and the largest difference; with none, the reference, for the reason
    of the candidate that came closest. With several candidates, each comparison is kept."""
    reference = variants.REFERENCE
    if reference not in scores:
        return None
    compared = {name: recommend(rows, scores[name], scores[reference], metrics.get(name), name)
                for name in variants.CANDIDATES if name in scores}
    if not compared:
        return None
    clear = [found for found in compared.values() if found["variant"] != reference]
    best = max(clear or list(compared.values()), key=lambda found: _ordered(found["pr_auc_difference"]))
    return best if len(compared) == 1 else {**best, "comparisons": compared}


def _ordered(value: float) -> float:
    return value if value == value else -math.inf  # NaN: last


def pr_curve(y: np.ndarray, scores: np.ndarray, points: int = 80) -> list[list[float]]:
    """[recall, precision] corners of the precision-recall step curve (the curve average precision
    integrates: precision holds until recall moves on), thinned to about `points` steps."""
    from sklearn.metrics import precision_recall_curve

    precision, recall, _ = precision_recall_curve(y, scores)
    precision, recall = precision[::-1], recall[::-1]  # recall rising
    keep = np.unique(np.linspace(0, len(recall) - 1, min(points, len(recall))).astype(int))
    return [[round(float(recall[i]), 4), round(float(precision[i]), 4)] for i in keep]


def reliability(y: np.ndarray, scores: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    """Mean score against the observed spike rate per score decile: a calibrated score sits on the
    diagonal."""
    order = np.argsort(scores, kind="stable")
    rows = []
    for part in np.array_split(order, bins):
        if len(part):
            rows.append({"rows": len(part), "mean_score": float(scores[part].mean()),
                         "observed_rate": float(y[part].mean())})
    return rows


def pr_auc_difference(y: np.ndarray, first: np.ndarray, second: np.ndarray, units: np.ndarray
                      ) -> tuple[float, float, float]:
    """first - second PR-AUC on the same rows, with its paired bootstrap interval."""
    first_auc, second_auc = pr_auc_by_weight(y, first), pr_auc_by_weight(y, second)
    return block_bootstrap(lambda weights: first_auc(weights) - second_auc(weights), y, units)


def recommend(rows: Rows, candidate_scores: np.ndarray, reference_scores: np.ndarray,
              candidate_metrics: dict[str, Any] | None = None, candidate: str = LEAD) -> dict[str, Any]:
    """One candidate - the reference's PR-AUC with its paired interval; the candidate only with
    enough episodes, when the interval is clear of 0, and when it does not alert before calmer
    minutes than its silences."""
    value, low, high = pr_auc_difference(rows.y, candidate_scores, reference_scores, rows.units)
    found, ref = rows.episodes, variants.REFERENCE
    pair = f"{candidate} - {ref}"
    lift = ((candidate_metrics or {}).get("alert_lift") or {}).get("median_ratio", NAN)
    interval = f"{LEVEL:.0%} interval [{low:+.3f}, {high:+.3f}] over {rows.resampling}"
    verdict = {ref: f"no evidence that {candidate} is better", candidate: f"{candidate} is better"}
    if found < RECOMMEND_EPISODES:
        verdict[ref] = f"not enough evidence: serving {ref}"
        variant, reason = ref, (f"not enough evidence: serving {ref} ({found} spike episodes, fewer than "
                                f"{RECOMMEND_EPISODES}; {pair} PR-AUC {value:+.3f})")
    elif not low > 0:
        variant, reason = ref, (f"no evidence that {candidate} is better: {pair} PR-AUC {value:+.3f}, "
                                f"{interval} includes or lies below 0")
    elif lift == lift and lift < 1:
        verdict[ref] = f"{candidate} alerts before calmer minutes"
        variant, reason = ref, (f"{candidate} leads on its label by {value:+.3f} PR-AUC but alerts before calmer "
                                f"minutes than its silences (alert lift {lift:.2f}x)")
    else:
        variant, reason = candidate, (f"{candidate} leads {variants.variant(ref).title} by {value:+.3f} PR-AUC, "
                                      f"{interval}")
    return {"variant": variant, "reason": reason, "verdict": verdict[variant], "pr_auc_difference": value,
            "pr_auc_difference_interval": [low, high], "resampling": rows.resampling, "episodes": found}


def answer_line(served: str, about: str, compared: str, difference: float | None, interval: list[float] | None,
                verdict: str, lift: dict[str, Any] | None) -> str:
    """The one comparative line a page or table opens with: what is served, how `compared` ("ml -
    baseline") came out, and the served variant's alert lift."""
    text = f"serving {served}" + (f" ({about})" if about else "")
    if difference is not None and difference == difference:
        low, high = interval or (NAN, NAN)
        text += f": {compared} PR-AUC {difference:+.2f} [{low:+.2f}, {high:+.2f}], {verdict}"
    elif verdict:
        text += f": {verdict}"
    ratio = (lift or {}).get("median_ratio", NAN)
    decile = (lift or {}).get("decile_lift", NAN)
    if ratio == ratio:
        text += f"; alert lift {ratio:.2f}x" + (f" (top-decile {decile:.1f}x)" if decile == decile else "")
    else:
        text += "; alert lift unknown"
    return text
