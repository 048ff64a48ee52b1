"""Schemathesis over the real predict service's OpenAPI schema (issue 12): whatever a client
sends, valid or not, the answer is never a 5xx and every response is counted in
volatility_api_requests_total (the error-rate SLO reads it). A fixed seed and a bounded number
of examples keep the run the same every time."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from tests.test_predict_service import _metric

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def predict_url(tmp_path_factory: pytest.TempPathFactory, trained_registry: Path):
    import os

    from tests.conftest import ServiceProcess, free_port, wait_for_http

    folder = tmp_path_factory.mktemp("fuzz")
    registry = folder / "registry"
    shutil.copytree(trained_registry, registry)
    port = free_port()
    os.environ["VOLCTL_STATE_DIR"] = str(folder / "state")  # admin calls may write only there
    try:
        service = ServiceProcess(["-m", "services.predict", "--port", str(port), "--registry", str(registry)],
                                 f"http://127.0.0.1:{port}", folder / "predict.log")
    finally:
        del os.environ["VOLCTL_STATE_DIR"]
    wait_for_http(service.url + "/metrics", process=service.process)
    yield service.url
    service.stop()


def _counted(url: str) -> float:
    """Every response counted so far, the scrapes of /metrics themselves left out."""
    text = httpx.get(f"{url}/metrics").text
    return _metric(text, "volatility_api_requests_total") - _metric(
        text, "volatility_api_requests_total", endpoint="/metrics")


def test_no_input_makes_a_5xx_and_every_response_is_counted(predict_url: str) -> None:
    from hypothesis import given

    schema = schemathesis.openapi.from_url(f"{predict_url}/openapi.json")
    schema.config.generation.update(modes=[schemathesis.GenerationMode.POSITIVE,
                                           schemathesis.GenerationMode.NEGATIVE])
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/predict", "/admin/model", "/health", "/version"}
    calls = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=40, derandomize=True, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def exchange(case) -> None:
            before = _counted(predict_url)
            response = case.call(base_url=predict_url)
            calls.append(response.status_code)
            assert response.status_code < 500, (case.method, case.path, case.body, response.text)
            if case.path != "/metrics":  # its own scrapes are left out of the count
                assert _counted(predict_url) - before == 1, (case.method, case.path)

        exchange()
    assert len(calls) >= 50 and any(code == 422 for code in calls) and any(code == 200 for code in calls)
