"""Fit the next-minute volatility forecaster on the training split, choose it on validation by
QLIKE, set its upper bound there, and judge it on held-out rows against persistence and the
training mean, with bootstrap intervals over sessions or 5-minute blocks (`evaluation`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from volctl.core.model.evaluation import LEVEL, NAN, block_bootstrap
from volctl.domain.forecast import (
    BPS,
    FLOOR,
    INPUTS,
    PERSISTENCE_INPUT,
    UPPER_QUANTILE,
    Forecaster,
    har_inputs,
    logged,
    qlike,
)

_PERSISTENCE = INPUTS.index(PERSISTENCE_INPUT)
BOUND_TARGET = (0.02, 0.08)  # the 95 % bound's exceedance rate that counts as calibrated


@dataclass
class Baselines:
    """What a forecast must beat: the training split's mean variance, and persistence."""

    mean_variance: float
    mean_log_volatility: float

    def as_document(self) -> dict[str, Any]:
        return {"training_mean_bps": float(np.sqrt(self.mean_variance) * BPS),
                "training_mean_log_volatility": self.mean_log_volatility,
                "persistence": f"the next 60 s = the trailing 60 s ({PERSISTENCE_INPUT})"}


def baselines_of(fwd_vol: np.ndarray) -> Baselines:
    realised = np.maximum(fwd_vol, FLOOR)
    return Baselines(float(np.mean(realised ** 2)), float(np.mean(np.log(realised))))


def _design(x: np.ndarray, medians: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Logged HAR inputs with unknown values at the training medians (and those medians)."""
    inputs = logged(har_inputs(x))
    if medians is None:
        medians = np.nanmedian(inputs, axis=0)
        medians = np.where(np.isnan(medians), np.log(FLOOR), medians)  # an input never seen: at the floor
    return np.where(np.isnan(inputs), medians, inputs), medians


def fit_candidates(x_train: np.ndarray, fwd_train: np.ndarray) -> list[Forecaster]:
    """HAR-RV two ways: least squares on log volatility (Corsi's log-HAR, its variance from the
    lognormal residual), and a Gamma regression of the variance with a log link (it minimises
    QLIKE on the training rows: QLIKE is the Gamma deviance)."""
    from sklearn.linear_model import GammaRegressor, LinearRegression

    design, medians = _design(x_train)
    realised = np.maximum(fwd_train, FLOOR)
    ols = LinearRegression().fit(design, np.log(realised))
    residual = float(np.var(np.log(realised) - ols.predict(design)))
    log_har = Forecaster("har-log", "HAR-RV: least squares of log next-60 s volatility on log trailing volatility "
                         "(30 s, 60 s, 300 s, 30 min level) and log spread",
                         (2 * ols.coef_).tolist(), float(2 * ols.intercept_ + 2 * residual), medians.tolist(), 1.0)
    mean, scale = design.mean(axis=0), design.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    gamma = GammaRegressor(alpha=1e-4, max_iter=1000).fit((design - mean) / scale, realised ** 2)
    coef = gamma.coef_ / scale
    qlike_har = Forecaster("har-qlike", "HAR-RV: Gamma regression (log link) of the next-60 s realised variance on "
                           "the same log inputs: the fit that minimises QLIKE",
                           coef.tolist(), float(gamma.intercept_ - coef @ mean), medians.tolist(), 1.0)
    for candidate in (log_har, qlike_har):
        forecast = candidate.volatility(x_train)
        candidate.log_offset = float(np.mean(np.log(realised) - np.log(np.maximum(forecast, FLOOR))))
    return [log_har, qlike_har]


def choose_forecaster(x_train: np.ndarray, fwd_train: np.ndarray, x_validation: np.ndarray,
                      fwd_validation: np.ndarray) -> tuple[Forecaster, dict[str, Any]]:
    """The candidate with the lowest validation QLIKE, its upper bound's multiplier set there."""
    scored = []
    for candidate in fit_candidates(x_train, fwd_train):
        loss = float(np.mean(qlike(fwd_validation, candidate.volatility(x_validation))))
        scored.append((loss, candidate))
    scored.sort(key=lambda item: item[0])
    chosen = scored[0][1]
    ratio = np.maximum(fwd_validation, FLOOR) / np.maximum(chosen.volatility(x_validation), FLOOR)
    chosen.upper_multiplier = float(np.quantile(ratio, UPPER_QUANTILE))
    selection = {"chosen_on": "validation QLIKE (floor 1 bp)",
                 "candidates": [{"name": c.name, "description": c.description, "validation_qlike": q}
                                for q, c in scored],
                 "upper_bound": f"forecast x {chosen.upper_multiplier:.2f}: the validation split's "
                                f"{UPPER_QUANTILE:.0%} quantile of realised / forecast (recalibrated live on the "
                                "last hour's outcomes)"}
    return chosen, selection


def forecast_skill(forecaster: Forecaster, x: np.ndarray, fwd_vol: np.ndarray, baselines: Baselines,
                   units: np.ndarray, upper_multiplier: float | None = None,
                   ts: np.ndarray | None = None) -> dict[str, Any]:
    """On held-out rows: QLIKE of the forecast, persistence and the training mean, the improvement
    over each with its interval; R-squared of log volatility against each; the upper bound's
    exceedance rate. Rows without a trailing 60 s volatility are left out (persistence has none)."""
    persistence = har_inputs(x)[:, _PERSISTENCE]
    known = ~np.isnan(persistence) & ~np.isnan(fwd_vol)
    x, fwd, persistence, units = x[known], fwd_vol[known], persistence[known], units[known]
    ts = None if ts is None else ts[known]
    if len(fwd) == 0:
        return {"rows": 0, "note": "no row with a trailing 60 s volatility and a next 60 s"}
    forecast = forecaster.volatility(x)
    mean_forecast = np.full(len(fwd), np.sqrt(baselines.mean_variance))
    losses = {"forecast": qlike(fwd, forecast), "persistence": qlike(fwd, persistence),
              "training_mean": qlike(fwd, mean_forecast)}
    log_realised = np.log(np.maximum(fwd, FLOOR))
    predictions = {"forecast": np.log(np.maximum(forecast, FLOOR)) + forecaster.log_offset,
                   "persistence": np.log(np.maximum(persistence, FLOOR)),
                   "training_mean": np.full(len(fwd), baselines.mean_log_volatility)}
    squared = {name: (log_realised - p) ** 2 for name, p in predictions.items()}
    zeros = np.zeros(len(fwd), dtype=int)

    def mean_of(values: np.ndarray) -> Any:
        return lambda w: float(values @ w / w.sum())

    found: dict[str, Any] = {"rows": len(fwd), "left_out": int((~known).sum()), "interval_level": LEVEL,
                             "qlike": {name: float(loss.mean()) for name, loss in losses.items()},
                             "forecast_median_bps": float(np.median(forecast) * BPS),
                             "realised_median_bps": float(np.median(np.maximum(fwd, FLOOR)) * BPS)}
    for against in ("persistence", "training_mean"):
        gain = losses[against] - losses["forecast"]  # > 0: the forecast loses less
        value, low, high = block_bootstrap(mean_of(gain), zeros, units, both_classes=False)
        r2 = _r_squared(squared["forecast"], squared[against], units)
        found[f"qlike_gain_vs_{against}"] = {"value": value, "interval": [low, high],
                                             "verdict": _skill_verdict(low, high)}
        found[f"r2_log_vs_{against}"] = r2
    multiplier = upper_multiplier or forecaster.upper_multiplier
    for key, bound in (("upper_bound", forecast * multiplier),
                       ("upper_bound_recalibrated", _recalibrated(ts, forecast, fwd, multiplier) if ts is not None
                        else None)):
        if bound is None:
            continue
        exceeded = (np.maximum(fwd, FLOOR) > bound).astype(float)
        rate, low, high = block_bootstrap(mean_of(exceeded), zeros, units, both_classes=False)
        found[key] = {"multiplier": multiplier, "exceedance": rate, "interval": [low, high],
                      "nominal": 1 - UPPER_QUANTILE, "target": list(BOUND_TARGET),
                      "calibrated": BOUND_TARGET[0] <= rate <= BOUND_TARGET[1]}
    if "upper_bound_recalibrated" in found:
        found["upper_bound_recalibrated"]["how"] = ("as the consume service does: the multiplier from the outcomes of "
                                                    "the last hour known at each tick (the version's own before 300)")
    return found


def _recalibrated(ts: np.ndarray, forecast: np.ndarray, fwd: np.ndarray, fallback: float) -> np.ndarray:
    """Each row's bound as the live stream sets it: the forecast times the 95th percentile of
    realised / forecast over the last hour of outcomes whose 60 s had passed by that row's time."""
    from volctl.domain.forecast import BoundCalibrator

    calibrator = BoundCalibrator(fallback)
    order = np.argsort(ts, kind="stable")
    bound = np.empty(len(ts))
    known = 0  # rows of `order` whose outcome is known (their horizon closed)
    for position, row in enumerate(order):
        while known < position and ts[order[known]] + 60.0 <= ts[row]:
            done = order[known]
            calibrator.observe(float(ts[done]), float(fwd[done]), float(forecast[done]))
            known += 1
        bound[row] = forecast[row] * calibrator.multiplier
    return bound


def _r_squared(model: np.ndarray, reference: np.ndarray, units: np.ndarray) -> dict[str, Any]:
    """1 - SSE(model) / SSE(reference) of log volatility, with its interval."""
    def metric(w: np.ndarray) -> float:
        total = float(reference @ w)
        return 1 - float(model @ w) / total if total > 0 else NAN

    value, low, high = block_bootstrap(metric, np.zeros(len(model), dtype=int), units, both_classes=False)
    return {"value": value, "interval": [low, high], "verdict": _skill_verdict(low, high)}


def _skill_verdict(low: float, high: float) -> str:
    if low != low:
        return "no interval (too few sessions or blocks)"
    if low > 0:
        return "better"
    if high < 0:
        return "worse"
    return "no evidence of a difference"


def forecast_line(skill: dict[str, Any]) -> str:
    """One line for people: the forecast against persistence and the training mean, and its bound."""
    if not skill.get("rows"):
        return f"forecast: not judged ({skill.get('note', 'no rows')})"
    losses = skill["qlike"]
    parts = [f"forecast QLIKE {losses['forecast']:.2f} (persistence {losses['persistence']:.2f}, training mean "
             f"{losses['training_mean']:.2f})"]
    for against, name in (("persistence", "persistence"), ("training_mean", "the mean")):
        gain = skill[f"qlike_gain_vs_{against}"]
        low, high = gain["interval"]
        parts.append(f"gain over {name} {gain['value']:+.2f}" + (f" [{low:+.2f}, {high:+.2f}]" if low == low else "")
                     + f": {gain['verdict']}")
    bound = skill["upper_bound"]
    parts.append(f"95 % bound exceeded on {bound['exceedance']:.1%} of minutes")
    live = skill.get("upper_bound_recalibrated")
    if live:
        parts[-1] += f" ({live['exceedance']:.1%} recalibrated on the last hour, as live)"
    return "; ".join(parts)


ALERT_RATE = 0.10  # an alert definition's threshold alerts on this share of validation minutes


def alert_definitions(forecaster: Forecaster, x_validation: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
                      rows: Any) -> list[dict[str, Any]]:
    """Alerts a user can rely on, each a threshold on something the data supports, set on
    validation to alert on ALERT_RATE of the minutes, judged on the test split against chance with
    its alert rate per session: the forecast's upper bound above N bps (an operator sets N), and
    "volatility elevated versus the last 30 minutes" (a nowcast)."""
    from volctl.core.model.evaluation import chance_skill
    from volctl.domain.features import FEATURES

    ratio = FEATURES.index("vol_ratio_60s")
    measures = {
        "upper bound": ("forecast_upper_bps >= {:.2f} bps (a threshold the operator sets; this one alerted on "
                        "10 % of validation minutes)", lambda x: forecaster.volatility(x) * forecaster.upper_multiplier
                        * BPS),
        "elevated": ("volatility elevated versus the last 30 minutes: vol_ratio_60s >= {:.2f} (the trailing minute "
                     "over the 30-minute level; a nowcast)", lambda x: x[:, ratio]),
    }
    found = []
    for name, (words, value_of) in measures.items():
        reference = value_of(x_validation)
        threshold = float(np.nanquantile(reference, 1 - ALERT_RATE))
        values = np.nan_to_num(value_of(x_test), nan=-np.inf)
        alerts = values >= threshold
        found.append({"name": name, "definition": words.format(threshold), "threshold": threshold,
                      "skill": chance_skill(y_test, np.where(np.isfinite(values), values, 0.0), alerts, rows)})
    return found
