"""Drift results as Prometheus gauges, served by the consume service.

`volctl drift report` writes its summary to `<state>/drift/latest.json`; this collector reads that
file at scrape time, so the dashboard shows the newest report without any push gateway. No report
yet (or an unreadable one): no drift series, which the dashboard shows as "no data", not as 0.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from volctl.domain import metrics as m

LATEST_FILE = "latest.json"


def latest_summary_path(state_dir: Path) -> Path:
    return state_dir / "drift" / LATEST_FILE


class DriftCollector(Collector):
    def __init__(self, summary_path: Path) -> None:
        self.summary_path = summary_path

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            summary = json.loads(self.summary_path.read_text())
            features = summary["features"]
            share, threshold, at = float(summary["share"]), float(summary["threshold"]), float(summary["at_epoch"])
        except (OSError, ValueError, KeyError, TypeError):
            return
        yield GaugeMetricFamily(m.DRIFT_SHARE, "Share of features that drifted in the newest drift report",
                                value=share)
        yield GaugeMetricFamily(m.DRIFT_THRESHOLD, "Drift share above which the report says drift",
                                value=threshold)
        yield GaugeMetricFamily(m.DRIFT_REPORT_TIME, "When the newest drift report ran (unix seconds)", value=at)
        score = GaugeMetricFamily(m.DRIFT_SCORE, "Per-feature drift score of the newest report (see method)",
                                  labels=["feature", "method"])
        threshold_of = GaugeMetricFamily(
            m.DRIFT_SCORE_THRESHOLD, "Per-feature drift threshold of the newest report: calibrated on the "
            "reference's own chunks (calibrated=\"true\"), else Evidently's default", labels=["feature", "calibrated"])
        drifted = GaugeMetricFamily(m.DRIFT_FEATURE, "1 when the feature drifted in the newest report",
                                    labels=["feature"])
        calibrated = "true" if summary.get("calibrated") else "false"
        for feature in [*features, *summary.get("predictions", [])]:
            if feature.get("score") is None:
                continue
            score.add_metric([feature["name"], feature.get("method", "")], float(feature["score"]))
            drifted.add_metric([feature["name"]], 1.0 if feature.get("drifted") else 0.0)
            if feature.get("threshold") is not None:
                threshold_of.add_metric([feature["name"], calibrated], float(feature["threshold"]))
        yield score
        yield threshold_of
        yield drifted
