"""How each objective of the catalogue (`objectives`) is measured: a function from the evidence of
one instant to its rows. Each row keeps the PromQL and the sum behind its number (`--explain`)."""

from __future__ import annotations

from collections.abc import Callable

from volctl.core.monitoring import queries
from volctl.core.monitoring.freshness import Freshness
from volctl.core.monitoring.sli import (
    BREACHED,
    INFO,
    LOW_TRAFFIC,
    MET,
    MIN_SPIKES,
    NO_DATA,
    NO_SOURCE,
    NOT_JUDGED,
    TOO_FEW_LABELS,
    Budget,
    Evidence,
    SloRow,
    ms,
    seconds_text,
    verdict_of,
)
from volctl.domain.clock import seconds_of

Measure = Callable[[Evidence], list[SloRow]]


def latency(found: Evidence) -> list[SloRow]:
    """p95 judged against its objective; p50 and p99 shown beside it."""
    slo, rows = found.slo, []
    for quantile in (0.5, 0.95, 0.99):
        expr = queries.latency_quantile(quantile, found.window)
        value = found.measure(expr)
        row = SloRow(f"latency p{round(quantile * 100)}", "", value, ms(value), INFO,
                     explain=[found.measure.line(expr)])
        if quantile == 0.95:
            row.objective = f"<= {slo.latency_p95_seconds * 1000:g} ms"
            row.status = verdict_of(value, value is not None and value <= slo.latency_p95_seconds, found.enough)
        rows.append(row)
    return rows


def bad_ratio(found: Evidence, name: str, objective: str, budget: float, availability: bool) -> SloRow:
    """A ratio objective from counts already fetched: the bad fraction over the window, its budget
    over the period, its burn rates over the alerting windows."""
    now, period, period_s = found.now, found.counts[found.slo.period], seconds_of(found.slo.period)
    burn = {long: found.counts[long] for long, _, _, _ in queries.BURN_WINDOWS}
    bad = now.bad_fraction(availability)
    measured = None if bad is None else (1 - bad if availability else bad)
    ok = bad is not None and (bad <= budget if availability else bad < budget)
    explain = [*now.explain, now.summary(availability), *period.explain, period.summary(availability)]
    # A dead service answers no requests: its failed scrapes are a verdict even without traffic.
    dead = availability and measured is not None and not ok
    row = SloRow(name, objective, measured, "no data" if measured is None else f"{measured:.3%}",
                 verdict_of(measured, ok, found.enough or dead), explain=explain)
    period_bad = period.bad_fraction(availability)
    if period_bad is not None and budget > 0:
        remaining = 1 - period_bad / budget
        rate = (bad or 0.0) / budget
        row.budget = Budget(remaining, remaining * budget * period.requests, remaining * budget * period_s / 60,
                            remaining * period_s / rate / 3600 if rate > 0 and remaining > 0 else None)
        explain.append(f"budget {budget:.4%} of {period.window}: spent {period_bad:.4%} / {budget:.4%} = "
                       f"{period_bad / budget:.1%}, remaining {remaining:.1%} = {row.budget.requests_left:.0f} "
                       f"requests = {row.budget.minutes_left:.1f} min; burn rate over {now.window} = "
                       f"{bad or 0:.4%} / {budget:.4%} = {rate:.2f}")
    for long, counts in burn.items():
        long_bad = counts.bad_fraction(availability)
        if long_bad is not None and budget > 0:
            row.burn_rates[long] = long_bad / budget
            explain.append(f"burn rate over {long}: {counts.summary(availability)} / {budget:.4%} = "
                           f"{long_bad / budget:.2f}")
    return row


def errors(found: Evidence) -> list[SloRow]:
    slo = found.slo
    return [bad_ratio(found, "error rate", f"< {slo.error_rate:.2%}", slo.error_rate, False)]


def availability(found: Evidence) -> list[SloRow]:
    slo = found.slo
    return [bad_ratio(found, "availability", f">= {slo.availability:.2%}", 1 - slo.availability, True)]


def lag(found: Evidence) -> list[SloRow]:
    slo, measure = found.slo, found.measure
    lag_now, lag_max = measure(queries.CONSUMER_LAG), measure(queries.lag_max(found.window))
    ok = lag_max is not None and lag_max < slo.consumer_lag_seconds
    return [SloRow("consumer lag (max)", f"< {slo.consumer_lag_seconds:g} s", lag_max,
                   "no data" if lag_max is None else f"{lag_max:.1f} s (now {lag_now or 0:.1f} s)",
                   NO_DATA if lag_max is None else (MET if ok else BREACHED),
                   explain=[measure.line(queries.CONSUMER_LAG), measure.line(queries.lag_max(found.window))])]


def freshness(found: Evidence) -> list[SloRow]:
    """The stream flows while it should: the newest tick and prediction, as the consume members
    last saw them (judged only while a source runs or slo.stream_expected is set)."""
    slo, measure = found.slo, found.measure
    tick, prediction = measure(queries.TICK_AGE), measure(queries.PREDICTION_AGE)
    fresh = Freshness(slo.freshness_seconds, found.expected, tick, prediction)
    verdict = NO_SOURCE if not found.expected.reason else BREACHED if fresh.problems else MET
    row = SloRow("freshness", f"< {slo.freshness_seconds:g} s",
                 max((a for a in (tick, prediction) if a is not None), default=None),
                 f"tick {seconds_text(tick)}, prediction {seconds_text(prediction)}", verdict,
                 explain=[measure.line(queries.TICK_AGE), measure.line(queries.PREDICTION_AGE), fresh.detail()])
    return [row]


def throughput(found: Evidence) -> list[SloRow]:
    slo, measure, now = found.slo, found.measure, found.now
    span = queries.throughput_span(found.window)
    expr = queries.best_request_rate(span, found.window)
    rate = measure(expr)
    row = SloRow(f"throughput (best {span})", f">= {slo.throughput_rps:g} req/s", rate,
                 "no data" if rate is None else f"{rate:.1f} req/s",
                 verdict_of(rate, rate is not None and rate >= slo.throughput_rps, found.enough),
                 explain=[*now.explain, measure.line(expr)])
    # Throughput is a capacity statement: below it, a service that answered everything in time was
    # simply not offered more (an idle service is not "breached"); only with latency or errors
    # breached does a low rate say the service could not keep up.
    struggling = any(r.status == BREACHED for r in found.rows if r.key in ("latency p95", "errors"))
    if row.status in (BREACHED, LOW_TRAFFIC) and not struggling:
        row.status = NOT_JUDGED
        row.explain.append("not judged: every request was answered in time, so the rate is what was offered, "
                           "not what the service can take; measure capacity with `volctl load` or `volctl gate`")
    return [row]


def realised(name: str) -> Measure:
    """The served model's realised precision or recall (outcomes: labels 60 s after each
    prediction) against its best shadow challenger and the floor."""

    def measured(found: Evidence) -> list[SloRow]:
        slo, measure = found.slo, found.measure
        window = slo.quality_window
        labelled, spikes = measure(queries.labelled_in(window)), measure(queries.spikes_in(window))
        # Precision and recall of a window without spikes are 0 or undefined, not a model's quality.
        lacking = [f"{labelled or 0:.0f} of {slo.min_outcomes} labelled ticks"] \
            if (labelled or 0) < slo.min_outcomes else []
        lacking += [f"{spikes or 0:.0f} of {MIN_SPIKES} spike ticks"] if (spikes or 0) < MIN_SPIKES else []
        floor = slo.min_precision if name == "precision" else slo.min_recall
        served = measure(queries.served_realised(name, window))
        best = measure(queries.best_challenger_realised(name, window))
        needed = max(floor, (best - slo.quality_tolerance) if best is not None else floor)
        row = SloRow(f"realised {name} ({window})", f">= best challenger - {slo.quality_tolerance:g}, >= {floor:g}",
                     served, "no data" if served is None else
                     f"{served:.3f} (best challenger {'none' if best is None else f'{best:.3f}'})",
                     NO_DATA if served is None and not lacking else
                     verdict_of(served, served is not None and served >= needed, not lacking),
                     explain=[measure.line(queries.labelled_in(window)), measure.line(queries.spikes_in(window)),
                              measure.line(queries.served_realised(name, window)),
                              measure.line(queries.best_challenger_realised(name, window))])
        if lacking:
            row.status = TOO_FEW_LABELS
            row.lacking = f"{', '.join(lacking)} in {window}"
            row.explain.append(f"not judged: {row.lacking} (labels come 60 s after each prediction, past the "
                               "5 min warm-up; a calm hour holds few spikes)")
        return [row]

    return measured


def forecast_bound(found: Evidence) -> list[SloRow]:
    """The forecast's 95 % upper bound says what it claims: exceeded on 5 % +/- 3 % of the minutes
    over the quality window (QLIKE against persistence shown beside it)."""
    slo, measure = found.slo, found.measure
    window = slo.quality_window
    count, rate = measure(queries.forecasts_in(window)), measure(queries.bound_exceedance(window))
    relative = measure(queries.qlike_against_persistence(window))
    low, high = queries.bound_range(slo)
    covered, span = measure(queries.covered_seconds(window)), seconds_of(window)
    enough = count is not None and count >= slo.min_outcomes and covered is not None and covered >= span / 2
    shown = "no data" if rate is None or not count else (
        f"{rate:.1%} of {count:.0f} forecasts" + ("" if relative is None else f"; QLIKE {relative:.2f}x persistence's"))
    row = SloRow(f"forecast bound exceeded ({window})", f"{low:.0%} to {high:.0%}", rate, shown,
                 verdict_of(rate, rate is not None and low <= rate <= high, enough),
                 explain=[measure.line(queries.forecasts_in(window)), measure.line(queries.bound_exceedance(window)),
                          measure.line(queries.qlike_against_persistence(window)),
                          measure.line(queries.covered_seconds(window))])
    if not enough:
        row.status = TOO_FEW_LABELS
        lacking = [f"{count or 0:.0f} of {slo.min_outcomes} forecasts met"] if (count or 0) < slo.min_outcomes \
            else []
        if (covered or 0) < span / 2:
            lacking.append(f"{(covered or 0) / 60:.0f} of {span / 120:.0f} min covered")
        row.lacking = "; ".join(lacking)
        row.explain.append(f"not judged: {count or 0:.0f} forecasts met by their realised volatility in {window} "
                           f"(need {slo.min_outcomes}), over {(covered or 0) / 60:.0f} min of the {window} window "
                           "(need half of it: an hour's bound is not judged on a few minutes)")
    return [row]
