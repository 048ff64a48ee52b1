"""The predict service. POST /predict is served by a lean ASGI fast path (orjson, hand
validation, numpy scoring); FastAPI serves everything else and documents /predict at /docs.
Both entrances share `PredictHandler`."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
from fastapi import FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import BaseModel, Field

from services.clock import utc_iso
from services.metrics import PredictMetrics
from services.model import Scorer, version_document
from services.model_admin import ADMIN_PATH, ModelAdmin
from services.predict.validation import MAX_BODY_BYTES, MAX_ROWS, InputError, parse_rows

log = logging.getLogger("volctl.predict")
PREDICT_PATH = "/predict"
KNOWN_ENDPOINTS = frozenset({PREDICT_PATH, ADMIN_PATH, "/health", "/version", "/metrics", "/docs", "/openapi.json"})
_JSON_HEADERS = [(b"content-type", b"application/json")]


class ModelHolder:
    """The served model and its feature set, as one pair swapped by one assignment: a request
    reads the pair once, so it is validated and scored by the same model even mid-swap."""

    def __init__(self, metrics: PredictMetrics, model: Scorer | None = None) -> None:
        self._metrics = metrics
        self._lock = threading.Lock()
        self.served: tuple[Scorer | None, frozenset[str]] = (None, frozenset())
        metrics.health.set_function(lambda: 1.0 if self.current is not None else 0.0)
        if model is not None:
            self.swap(model)

    @property
    def current(self) -> Scorer | None:
        return self.served[0]

    def swap(self, model: Scorer) -> Scorer | None:
        with self._lock:
            previous = self.current
            self.served = (model, frozenset(model.features))
            self._metrics.model_info.clear()
            self._metrics.model_info.labels(model.variant, model.version).set(1)
            return previous


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    variant: str = "none"


class PredictHandler:
    def __init__(self, holder: ModelHolder, metrics: PredictMetrics) -> None:
        self.holder = holder
        self.metrics = metrics

    def predict(self, body: bytes) -> Reply:
        model, feature_set = self.holder.served
        if model is None:
            return self._error(503, "no_model", "no model loaded; train one with `volctl model train`")
        try:
            rows = parse_rows(body, model.features, feature_set)
        except InputError as exc:
            return self._error(422, exc.error_type, exc.message, model.variant)
        try:
            if len(rows) == 1:
                scores = [model.score_row(rows[0])]
            else:
                scores = model.score(np.array(rows, dtype=float), complete=True).tolist()
            threshold = model.decision_threshold
            labels = [1 if score >= threshold else 0 for score in scores]
        except Exception:  # a model bug, not bad input: logged and counted, answered 500
            log.exception("scoring failed")
            return self._error(500, "internal", "scoring failed; see the service log", model.variant)
        positives = sum(labels)
        spikes, calm = self.metrics.predictions_of(model.variant)
        spikes.inc(positives)
        calm.inc(len(labels) - positives)
        payload = {
            "scores": scores,
            "labels": labels,
            "model_variant": model.variant,
            "version": model.version,
            "ts": utc_iso(timespec="milliseconds"),
        }
        return Reply(200, orjson.dumps(payload), model.variant)

    def _error(self, status: int, error_type: str, message: str, variant: str = "none") -> Reply:
        self.metrics.errors.labels(PREDICT_PATH, error_type).inc()
        return Reply(status, orjson.dumps({"detail": message, "error_type": error_type}), variant)


@dataclass(frozen=True)
class Faults:
    """Test-only fault injection (off unless VOLCTL_PREDICT_FAULTS is set): slowness and 5xx, to
    prove that SLO checks and alerts see them."""

    delay_s: float = 0.0
    error_rate: float = 0.0

    @classmethod
    def parse(cls, text: str) -> Faults:
        """`delay_ms=900,error_rate=0.5`."""
        values = dict(item.split("=", 1) for item in text.split(",") if "=" in item)
        return cls(float(values.get("delay_ms", 0)) / 1000, float(values.get("error_rate", 0)))


class PredictService:
    """ASGI app: the /predict fast path plus request metrics, in front of the FastAPI app."""

    def __init__(self, api: FastAPI, handler: PredictHandler, metrics: PredictMetrics,
                 faults: Faults | None = None) -> None:
        self.api = api
        self.handler = handler
        self.metrics = metrics
        self.faults = faults

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.api(scope, receive, send)
            return
        started = time.perf_counter()
        path, method = scope["path"], scope["method"]
        if path == PREDICT_PATH and method == "POST":
            reply = self.handler.predict(await _read_body(receive))
            if self.faults is not None:
                reply = await self._inject(reply)
            await send({"type": "http.response.start", "status": reply.status, "headers": _JSON_HEADERS})
            await send({"type": "http.response.body", "body": reply.body})
            self.metrics.latency_of(reply.variant).observe(time.perf_counter() - started)
            self.metrics.request_counter(PREDICT_PATH, method, reply.status).inc()
            return
        status = 500

        async def send_and_record(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.api(scope, receive, send_and_record)
        finally:
            endpoint = path if path in KNOWN_ENDPOINTS else "other"
            self.metrics.request_counter(endpoint, method, status).inc()
            if status >= 500:
                self.metrics.errors.labels(endpoint, "internal").inc()

    async def _inject(self, reply: Reply) -> Reply:
        import asyncio
        import random

        await asyncio.sleep(self.faults.delay_s)
        if random.random() < self.faults.error_rate:
            self.metrics.errors.labels(PREDICT_PATH, "injected").inc()
            return Reply(500, b'{"detail": "injected fault (VOLCTL_PREDICT_FAULTS)"}', reply.variant)
        return reply


async def _read_body(receive: Any) -> bytes:
    """The request body, cut just past MAX_BODY_BYTES: enough for parse_rows to refuse it
    without buffering an unbounded upload."""
    chunks, size = [], 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body") or size > MAX_BODY_BYTES:
            return b"".join(chunks)


class PredictRequest(BaseModel):
    rows: list[dict[str, float]] = Field(
        min_length=1, max_length=MAX_ROWS,
        description="Feature rows; keys are exactly the active model's features (GET /version).",
    )


class PredictResponse(BaseModel):
    scores: list[float]
    labels: list[int]
    model_variant: str
    version: str
    ts: str


class SwitchRequest(BaseModel):
    variant: str = Field(description="baseline or ml")
    version: str | None = Field(None, description="model version (default: the one served now)")
    expect_sha: str | None = Field(None, description="refuse unless the loaded artifact has this sha256")
    actor: str | None = None
    reason: str | None = None
    change_id: str | None = None
    dry_run: bool = False


def create_app(holder: ModelHolder, registry: CollectorRegistry, metrics: PredictMetrics,
               faults: Faults | None = None, admin: ModelAdmin | None = None) -> PredictService:
    started = time.monotonic()
    handler = PredictHandler(holder, metrics)
    api = FastAPI(title="volctl predict", version="1", summary="Crypto volatility spike detector")

    @api.post(PREDICT_PATH, response_model=PredictResponse,
              responses={422: {"description": "a row is missing a feature, has an unknown one, or a non-finite value"}})
    async def predict(request: Request, body: PredictRequest) -> Response:
        """Score feature rows with the active model (served by the fast path in production)."""
        reply = handler.predict(await request.body())
        return Response(reply.body, reply.status, media_type="application/json")

    @api.get("/health")
    def health() -> Response:
        model = holder.current
        if model is None:
            document = {"status": "unavailable", "reason": "no model loaded"}
            return Response(orjson.dumps(document), 503, media_type="application/json")
        return Response(orjson.dumps({
            "status": "ok", "model_variant": model.variant, "version": model.version,
            "uptime_s": round(time.monotonic() - started, 3),
        }), media_type="application/json")

    @api.get("/version")
    def version() -> Response:
        model = holder.current
        if model is None:
            return Response(orjson.dumps({"detail": "no model loaded"}), 503, media_type="application/json")
        return Response(orjson.dumps(version_document(model, "predict")), media_type="application/json")

    @api.post(ADMIN_PATH, openapi_extra={"requestBody": {"content": {"application/json": {
        "schema": SwitchRequest.model_json_schema()}}}})
    async def switch_model(request: Request) -> Response:
        """Switch the served model without a restart (bearer token; see `volctl rollback`)."""
        if admin is None:
            return Response(orjson.dumps({"detail": "admin is not enabled in this process"}), 404,
                            media_type="application/json")
        body = await request.body()
        # Loading a model reads and hashes files: off the event loop, so /predict keeps flowing.
        reply = await run_in_threadpool(admin.handle, request.headers.get("authorization"), body)
        headers = {"WWW-Authenticate": "Bearer"} if reply.status == 401 else None
        return Response(orjson.dumps(reply.document), reply.status, headers=headers, media_type="application/json")

    @api.get("/metrics")
    def prometheus_metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return PredictService(api, handler, metrics, faults)
