"""A small JSON-over-HTTP client for the predict and consume services."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx

from volctl.domain.errors import Unreachable
from volctl.domain.settings import Settings


@dataclass
class HttpResult:
    status: int
    body: Any
    latency_s: float


class ServiceClient:
    def __init__(self, name: str, base_url: str, timeout_s: float = 2.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.name = name
        self.base_url = base_url
        # Loading the CA bundle costs ~20 ms per client; plain-http service URLs never use it.
        self._client = httpx.Client(base_url=base_url, timeout=timeout_s, transport=transport,
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


def status_of(url: str, timeout_s: float = 1.0, method: str = "GET") -> int | None:
    """The HTTP status `url` answers with, or None when nothing answers (readiness polls, reloads)."""
    try:
        return httpx.request(method, url, timeout=timeout_s, verify=url.startswith("https")).status_code
    except httpx.HTTPError:
        return None


def answers(base_url: str, path: str = "/health", timeout_s: float = 2.0) -> bool:
    """Whether anything answers HTTP at `base_url` (any status)."""
    return status_of(f"{base_url}{path}", timeout_s) is not None


def admin_clients(settings: Settings, timeout_s: float = 10.0) -> dict[str, ServiceClient]:
    """Every process that serves a model, each at its own address: the predict workers, then the
    consume members (a rollback switches and verifies each of them; `up` brings them to one model)."""
    from volctl.domain.topology import consume_members, predict_workers

    return {m.name: ServiceClient(m.name, m.url, timeout_s=timeout_s)
            for m in [*predict_workers(settings), *consume_members(settings)]}
