"""The predict service's behaviour in process (its ASGI app through httpx.ASGITransport), and as a real
process on a free port where the process is the point: what `python -m services.predict` serves by default."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from services.predict.validation import MAX_BODY_BYTES, MAX_ROWS
from volctl.domain.features import FEATURES
from volctl.domain.registry import Registry

pytestmark = pytest.mark.integration


def _metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        named = line.startswith((name + "{", name + " "))
        if named and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


@pytest.fixture
def service(predict_app, trained_registry: Path):
    return predict_app(trained_registry, "ml")


def test_by_default_the_recommended_variant_is_served(start_predict, trained_registry: Path) -> None:
    """model.variant = auto (the default): the version's recommended variant, ml only when it earned it."""
    registry = Registry(trained_registry)
    manifest = registry.manifest(registry.latest())
    service = start_predict(trained_registry)
    version = service.get("/version").json()
    assert version["model"] == manifest["recommended_variant"]
    assert version["sha"] == manifest["variants"][manifest["recommended_variant"]]["sha256"]
    assert "recommends" in service.log.read_text()


@pytest.fixture
def rows(trained_registry: Path) -> list[dict[str, float]]:
    registry = Registry(trained_registry)
    return registry.manifest(registry.latest())["sample_rows"]


def test_predict_health_version_metrics(service, rows, trained_registry: Path) -> None:
    reply = service.post("/predict", json={"rows": rows})
    assert reply.status_code == 200
    body = reply.json()
    assert len(body["scores"]) == len(rows) == len(body["labels"])
    assert all(0 <= s <= 1 for s in body["scores"]) and set(body["labels"]) <= {0, 1}
    assert body["model_variant"] == "ml" and body["ts"].endswith("Z")
    # The model's first output: each row's next-60 s volatility forecast, in bps, with its 95 % bound; a
    # single row (the fast path, plain Python) forecasts what the batch path does.
    forecaster = Registry(trained_registry).load(body["version"], "ml").forecaster
    matrix = np.array([[row[name] for name in FEATURES] for row in rows])
    expected = forecaster.volatility(matrix) * 1e4
    np.testing.assert_allclose(body["forecast_bps"], expected, rtol=1e-9)
    assert all(u > f > 0 for u, f in zip(body["forecast_upper_bps"], body["forecast_bps"], strict=True))
    one = service.post("/predict", json={"rows": rows[:1]}).json()
    np.testing.assert_allclose(one["forecast_bps"], expected[:1], rtol=1e-9)
    health = service.get("/health").json()
    assert health["status"] == "ok" and health["model_variant"] == "ml"
    version = service.get("/version").json()
    registry = Registry(trained_registry)
    assert version["sha"] == registry.manifest(registry.latest())["variants"]["ml"]["sha256"]
    assert version["version"] == body["version"]
    metrics = service.get("/metrics").text
    assert _metric(metrics, "volatility_api_requests_total", endpoint="/predict", status="200") == 2
    assert _metric(metrics, "volatility_prediction_latency_seconds_count", variant="ml") == 2
    assert _metric(metrics, "volatility_predictions_total", variant="ml") == len(rows) + 1
    assert _metric(metrics, "volatility_api_health_status") == 1
    assert _metric(metrics, "volatility_model_info", variant="ml", version=body["version"]) == 1
    assert 'le="5e-05"' in metrics and 'le="0.0005"' not in metrics  # from 50 µs (issue 24)
    assert service.get("/docs").status_code == 200
    assert "/predict" in service.get("/openapi.json").json()["paths"]


def _bad_bodies(row: dict[str, float]) -> list[tuple[bytes, str, str]]:
    first = next(iter(row))
    nan_row = json.dumps({"rows": [row, {**row, first: float("nan")}]})
    return [
        (nan_row.encode(), "not_finite", f"rows[1].{first}"),
        (json.dumps({"rows": [{**row, first: "1.0"}]}).encode(), "bad_value", f"rows[0].{first}"),
        (json.dumps({"rows": [{**row, first: True}]}).encode(), "bad_value", f"rows[0].{first}"),
        (json.dumps({"rows": [{k: v for k, v in row.items() if k != first}]}).encode(), "bad_features", first),
        (json.dumps({"rows": [{**row, "price": 1.0}]}).encode(), "bad_features", "price"),
        (json.dumps({"rows": []}).encode(), "bad_body", "non-empty"),
        (json.dumps({"rows": [row] * (MAX_ROWS + 1)}).encode(), "too_many_rows", str(MAX_ROWS)),
        (json.dumps({"rows": [row], "debug": 1}).encode(), "bad_body", "debug"),
        (json.dumps({"rows": [{**row, first: 10**400}]}).encode(), "out_of_range", first),
        (json.dumps({"rows": [{**row, first: -1e300}]}).encode(), "out_of_range", first),
        (json.dumps({"rows": [{**row, first: float("inf")}]}).encode(), "not_finite", first),
        (b'{"rows": [1]}', "bad_row", "rows[0]"),
        (b"[]", "bad_body", "rows"),
        (b"not json", "bad_json", "JSON"),
        (b"", "bad_json", "JSON"),
        (json.dumps({"rows": [{**row, "ret_std_300s": -1.0}]}).encode(), "out_of_range", "rows[0].ret_std_300s"),
        (json.dumps({"rows": [row, {**row, "spread_bps": -0.5}]}).encode(), "out_of_range", "rows[1].spread_bps"),
    ]


def test_bad_bodies_get_422_naming_the_field_and_are_counted(service, rows) -> None:
    cases = _bad_bodies(rows[0])
    for body, error_type, mention in cases:
        reply = service.post("/predict", content=body)
        assert reply.status_code == 422, (error_type, reply.text)
        assert reply.json()["error_type"] == error_type
        assert mention in reply.json()["detail"]
    # A body over the cap is 413, as on the admin endpoints (it was a 422).
    large = service.post("/predict", content=b"{" + b" " * (MAX_BODY_BYTES + 10) + b"}")
    assert large.status_code == 413 and large.json()["error_type"] == "too_large", large.text
    metrics = service.get("/metrics").text
    assert _metric(metrics, "volatility_api_errors_total", endpoint="/predict") == len(cases) + 1
    assert _metric(metrics, "volatility_api_requests_total", endpoint="/predict", status="413") == 1
    assert _metric(metrics, "volatility_api_requests_total", endpoint="/predict", status="422") == len(cases)
    assert _metric(metrics, "volatility_api_requests_total", status="500") == 0
    assert service.post("/predict", json={"rows": rows}).status_code == 200


def test_baseline_variant_is_served_through_the_same_interface(predict_app, trained_registry, rows) -> None:
    service = predict_app(trained_registry, "baseline")
    body = service.post("/predict", json={"rows": rows}).json()
    assert body["model_variant"] == "baseline"
    assert service.get("/version").json()["model"] == "baseline"


def test_without_a_model_health_is_503_and_the_gauge_says_so(predict_app, tmp_path: Path, rows) -> None:
    service = predict_app(tmp_path / "empty-registry")
    assert service.get("/health").status_code == 503
    reply = service.post("/predict", json={"rows": rows})
    assert reply.status_code == 503 and reply.json()["error_type"] == "no_model"
    metrics = service.get("/metrics").text
    assert _metric(metrics, "volatility_api_health_status") == 0
