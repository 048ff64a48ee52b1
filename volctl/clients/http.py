"""A small JSON-over-HTTP client for the predict and consume services."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx

from volctl.domain.errors import Unreachable


@dataclass
class HttpResult:
    status: int
    body: Any
    latency_s: float


class ServiceClient:
    def __init__(self, name: str, base_url: str, timeout_s: float = 2.0,
                 transport: httpx.BaseTransport | None = None, auth: tuple[str, str] | None = None) -> None:
        self.name = name
        self.base_url = base_url
        # Loading the CA bundle costs ~20 ms per client; plain-http service URLs never use it.
        self._client = httpx.Client(base_url=base_url, timeout=timeout_s, transport=transport, auth=auth,
                                    verify=base_url.startswith("https"))

    def get(self, path: str) -> HttpResult:
        return self._request("GET", path)

    def post(self, path: str, document: Any, headers: dict[str, str] | None = None) -> HttpResult:
        return self._request("POST", path, json=document, headers=headers)

    def _request(self, method: str, path: str, **kwargs: Any) -> HttpResult:
        started = time.perf_counter()
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise Unreachable(
                f"{self.name} service at {self.base_url} did not answer {method} {path}: {exc}",
                hint="start the stack with `volctl up` (or `make demo`), then retry",
            ) from exc
        latency = time.perf_counter() - started
        try:
            body = response.json()
        except ValueError:
            body = response.text
        return HttpResult(response.status_code, body, latency)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> ServiceClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def get_json(name: str, base_url: str, path: str, timeout_s: float = 2.0) -> dict[str, Any] | None:
    """Best effort: the JSON object a service answers on `path`, whatever the status (an unhealthy
    /health still carries its fields), or None when it does not answer with one."""
    with ServiceClient(name, base_url, timeout_s) as client:
        try:
            body = client.get(path).body
        except Unreachable:
            return None
    return body if isinstance(body, dict) else None


def metric_sample(name: str, base_url: str, metric: str, timeout_s: float = 1.0) -> float | None:
    """One sample of a service's own /metrics (the first series of `metric`), or None when it does
    not answer or has no such sample (a member's lag before its first poll, say)."""
    from volctl.domain.metrics import sample_value

    with ServiceClient(name, base_url, timeout_s) as client:
        try:
            body = client.get("/metrics").body
        except Unreachable:
            return None
    return sample_value(body, metric) if isinstance(body, str) else None


def status_of(url: str, timeout_s: float = 1.0, method: str = "GET", auth: tuple[str, str] | None = None) -> int | None:
    """The HTTP status `url` answers with, or None when nothing answers (readiness polls, reloads)."""
    try:
        return httpx.request(method, url, timeout=timeout_s, verify=url.startswith("https"), auth=auth).status_code
    except httpx.HTTPError:
        return None


def answers(base_url: str, path: str = "/health", timeout_s: float = 2.0) -> bool:
    """Whether anything answers HTTP at `base_url` (any status)."""
    return status_of(f"{base_url}{path}", timeout_s) is not None
