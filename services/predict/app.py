"""The predict service. POST /predict is served by a lean ASGI fast path (orjson, hand
validation, numpy scoring); FastAPI serves everything else and documents /predict at /docs.
Both entrances share `PredictHandler`."""

from __future__ import annotations

import functools
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
from fastapi import FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import BaseModel, ConfigDict, Field, create_model

from services.predict.validation import MAX_BODY_BYTES, MAX_ROWS, InputError, parse_rows
from volctl.domain.clock import utc_iso
from volctl.domain.features import FEATURE_RANGES
from volctl.domain.forecast import BPS, BoundReader, row_columns
from volctl.domain.metrics import PredictMetrics
from volctl.domain.model import Scorer, version_document
from volctl.domain.model_admin import ADMIN_PATH, MAX_ADMIN_BODY, ModelAdmin
from volctl.domain.text import printable

log = logging.getLogger("volctl.predict")
PREDICT_PATH = "/predict"
KNOWN_ENDPOINTS = frozenset({PREDICT_PATH, ADMIN_PATH, "/health", "/version", "/metrics", "/docs", "/openapi.json"})
_JSON_HEADERS = [(b"content-type", b"application/json")]
MAX_OTHER_BODY = MAX_ADMIN_BODY  # every body but /predict's (which takes up to MAX_BODY_BYTES)


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


@functools.lru_cache(maxsize=8)
def _forecast_columns(features: tuple[str, ...]) -> tuple[int, ...]:
    return row_columns(features)


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    variant: str = "none"
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)


class PredictHandler:
    def __init__(self, holder: ModelHolder, metrics: PredictMetrics, bounds: BoundReader | None = None) -> None:
        self.holder = holder
        self.metrics = metrics
        self.bounds = bounds  # the upper bound's multiplier as the stream recalibrated it

    def predict(self, body: bytes) -> Reply:
        model, feature_set = self.holder.served
        if model is None:
            return self._error(503, "no_model", "no model loaded; train one with `volctl model train`")
        try:
            rows = parse_rows(body, model.features, feature_set)
        except InputError as exc:  # too large is 413, as on every endpoint; the rest is unprocessable
            status = 413 if exc.error_type == "too_large" else 422
            return self._error(status, exc.error_type, exc.message, model.variant)
        try:
            if len(rows) == 1:
                scores = [model.score_row(rows[0])]
            else:
                scores = model.score(np.array(rows, dtype=float), complete=True).tolist()
            threshold = model.decision_threshold
            labels = [1 if score >= threshold else 0 for score in scores]
            forecast, upper = self._forecast(model, rows)
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
            "forecast_bps": forecast,
            "forecast_upper_bps": upper,
            "model_variant": model.variant,
            "version": model.version,
            "ts": utc_iso(timespec="milliseconds"),
        }
        return Reply(200, orjson.dumps(payload), model.variant)

    def _forecast(self, model: Scorer, rows: list[list[float]]) -> tuple[list[float] | None, list[float] | None]:
        """Each row's next-60 s volatility forecast and its 95 % upper bound, in bps (None: the
        version has no forecaster)."""
        forecaster = model.forecaster
        if forecaster is None:
            return None, None
        if len(rows) == 1:
            volatility = [forecaster.volatility_of_row(rows[0], _forecast_columns(model.features))]
        else:
            volatility = forecaster.volatility(np.array(rows, dtype=float), model.features).tolist()
        multiplier = self.bounds.multiplier(forecaster) if self.bounds else forecaster.upper_multiplier
        return [v * BPS for v in volatility], [v * multiplier * BPS for v in volatility]

    def _error(self, status: int, error_type: str, message: str, variant: str = "none") -> Reply:
        self.metrics.errors.labels(PREDICT_PATH, error_type).inc()
        return Reply(status, orjson.dumps({"detail": printable(message), "error_type": error_type}), variant)


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
                 faults: Faults | None = None, admin: ModelAdmin | None = None) -> None:
        self.api = api
        self.handler = handler
        self.metrics = metrics
        self.faults = faults
        self.admin = admin

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """The outermost layer: every HTTP response, a failure inside an error path included, is
        counted here once, so the error-rate SLO sees all of them."""
        if scope["type"] != "http":
            await self.api(scope, receive, send)
            return
        started = time.perf_counter()
        path, method = scope["path"], scope["method"]
        endpoint = path if path in KNOWN_ENDPOINTS else "other"
        status, variant, responded = 500, None, False

        async def send_and_record(message: dict[str, Any]) -> None:
            nonlocal status, responded
            if message["type"] == "http.response.start":
                status, responded = message["status"], True
            await send(message)

        try:
            if path == PREDICT_PATH and method == "POST":
                reply = self.handler.predict(await _read_body(receive, MAX_BODY_BYTES))
                variant = reply.variant
                if self.faults is not None:
                    reply = await self._inject(reply)
                await _send_reply(send_and_record, reply)
            else:
                refusal = self._refusal(scope, endpoint)
                if refusal is not None:
                    await _send_reply(send_and_record, refusal)
                else:
                    # At most the cap is read here, then handed on: a chunked upload declares no
                    # length, and an exception inside the app would surface as a 500, not a 413.
                    body = await _read_body(receive, MAX_OTHER_BODY)
                    if len(body) > MAX_OTHER_BODY:
                        await _send_reply(send_and_record, self._too_large(endpoint))
                    else:
                        await self.api(scope, _replayed(body, receive), send_and_record)
        except Exception:
            log.exception("%s %s failed", method, endpoint)
            self.metrics.errors.labels(endpoint, "internal").inc()
            if not responded:
                await _send_reply(send_and_record, Reply(500, b'{"detail": "internal error; see the service log", '
                                                              b'"error_type": "internal"}'))
        finally:
            if variant is not None:
                self.metrics.latency_of(variant).observe(time.perf_counter() - started)
            self.metrics.request_counter(endpoint, method, status).inc()
            if status >= 500 and endpoint != PREDICT_PATH:  # /predict counts its own causes
                self.metrics.errors.labels(endpoint, "internal").inc()

    def _refusal(self, scope: dict[str, Any], endpoint: str) -> Reply | None:
        """Answers decided from the headers alone, before any body is read: an admin call without
        a valid token (401/403), then a declared body over the cap (413)."""
        headers = dict(scope.get("headers") or [])
        if scope["path"] == ADMIN_PATH and scope["method"] == "POST" and self.admin is not None:
            authorization = headers.get(b"authorization")
            refused = self.admin.refusal(authorization.decode("latin-1") if authorization else None)
            if refused is not None:
                extra = [(b"www-authenticate", b"Bearer")] if refused.status == 401 else []
                return Reply(refused.status, orjson.dumps(refused.document), headers=extra)
        try:
            declared = int(headers.get(b"content-length", b"0"))
        except ValueError:
            declared = MAX_OTHER_BODY + 1
        return self._too_large(endpoint) if declared > MAX_OTHER_BODY else None

    def _too_large(self, endpoint: str) -> Reply:
        """413 for a body over the cap, declared or streamed, counted alike."""
        self.metrics.errors.labels(endpoint, "too_large").inc()
        return Reply(413, orjson.dumps({"detail": f"body larger than {MAX_OTHER_BODY} bytes (only /predict takes "
                                                  "more)", "error_type": "too_large"}))

    async def _inject(self, reply: Reply) -> Reply:
        import asyncio
        import random

        await asyncio.sleep(self.faults.delay_s)
        if random.random() < self.faults.error_rate:
            self.metrics.errors.labels(PREDICT_PATH, "injected").inc()
            return Reply(500, b'{"detail": "injected fault (VOLCTL_PREDICT_FAULTS)"}', reply.variant)
        return reply


async def _read_body(receive: Any, limit: int) -> bytes:
    """The request body, cut just past `limit`: enough for parse_rows to refuse it without
    buffering an unbounded upload."""
    chunks, size = [], 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body") or size > limit:
            return b"".join(chunks)


def _replayed(body: bytes, receive: Any) -> Any:
    """`receive` that first hands over the body read already, then whatever comes next
    (the disconnect)."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> dict[str, Any]:
        return pending.pop() if pending else await receive()

    return replay


async def _send_reply(send: Any, reply: Reply) -> None:
    await send({"type": "http.response.start", "status": reply.status, "headers": [*_JSON_HEADERS, *reply.headers]})
    await send({"type": "http.response.body", "body": reply.body})


# One row as the schema states it, from the domain's feature ranges (a fuzzer reads them from here).
FeatureRow = create_model(
    "FeatureRow", __config__=ConfigDict(extra="forbid"),
    **{name: (float, Field(ge=low, le=high)) for name, (low, high) in FEATURE_RANGES.items()})


class PredictRequest(BaseModel):
    rows: list[FeatureRow] = Field(  # type: ignore[valid-type]
        min_length=1, max_length=MAX_ROWS,
        description="Feature rows; keys are exactly the active model's features (GET /version).",
    )


class PredictResponse(BaseModel):
    scores: list[float]
    labels: list[int]
    forecast_bps: list[float] | None = Field(
        None, description="next-60 s realised volatility forecast per row, in bps (null: the version has none)")
    forecast_upper_bps: list[float] | None = Field(
        None, description="its 95 % upper bound, recalibrated on the recent stream")
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
               faults: Faults | None = None, admin: ModelAdmin | None = None,
               worker: str = "predict", bounds: BoundReader | None = None) -> PredictService:
    started = time.monotonic()
    handler = PredictHandler(holder, metrics, bounds)
    api = FastAPI(title="volctl predict", version="1", summary="Crypto volatility spike detector")

    @api.post(PREDICT_PATH, response_model=PredictResponse,
              responses={413: {"description": f"body larger than {MAX_BODY_BYTES} bytes"},
                         422: {"description": "a row is missing a feature, has an unknown one, or a value that "
                                              "is not finite or out of the feature's range"}})
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
            "uptime_s": round(time.monotonic() - started, 3), "worker": worker,
        }), media_type="application/json")

    @api.get("/version")
    def version() -> Response:
        model = holder.current
        if model is None:
            return Response(orjson.dumps({"detail": "no model loaded"}), 503, media_type="application/json")
        return Response(orjson.dumps({**version_document(model, "predict"), "worker": worker}),
                        media_type="application/json")

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

    return PredictService(api, handler, metrics, faults, admin)
