"""Alertmanager's HTTP API (v2): the alerts it holds, silences, and creating or expiring one."""

from __future__ import annotations

from typing import Any

import httpx

from volctl.domain.errors import ConfigError, Unreachable


class AlertmanagerClient:
    def __init__(self, url: str, timeout_s: float = 3.0, transport: httpx.BaseTransport | None = None,
                 auth: tuple[str, str] | None = None) -> None:
        self.url = url.rstrip("/")
        self._client = httpx.Client(base_url=self.url, timeout=timeout_s, transport=transport, auth=auth)

    def alerts(self) -> list[dict[str, Any]]:
        """Every alert it holds: active, silenced and inhibited ones (each with `status.state`)."""
        return self._call("GET", "/api/v2/alerts")

    def silences(self) -> list[dict[str, Any]]:
        return self._call("GET", "/api/v2/silences")

    def create_silence(self, matchers: dict[str, str], starts_at: str, ends_at: str, created_by: str,
                       comment: str) -> str:
        """The new silence's id (equality matchers on the given labels)."""
        body = {"matchers": [{"name": k, "value": v, "isRegex": False, "isEqual": True} for k, v in matchers.items()],
                "startsAt": starts_at, "endsAt": ends_at, "createdBy": created_by, "comment": comment}
        return str(self._call("POST", "/api/v2/silences", json=body)["silenceID"])

    def expire_silence(self, silence_id: str) -> None:
        self._call("DELETE", f"/api/v2/silence/{silence_id}")

    def close(self) -> None:
        self._client.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise Unreachable(f"Alertmanager at {self.url} did not answer: {exc}",
                              hint="start the stack with `volctl up` (apt-get install prometheus-alertmanager), "
                                   "or check alertmanager.url") from exc
        if response.status_code == 404 and "/silence/" in path:
            raise ConfigError(f"Alertmanager has no silence {path.rsplit('/', 1)[1]}",
                              hint="`volctl alerts` lists the silences with their ids")
        if response.status_code == 401:
            raise ConfigError(f"Alertmanager at {self.url} refused volctl's credentials (401 to {method} {path})",
                              hint="the admin token changed since the stack started? `volctl up` renders "
                                   "Alertmanager's credentials again")
        if response.status_code >= 400:
            raise Unreachable(f"Alertmanager at {self.url} answered {response.status_code} to {method} {path}: "
                              f"{response.text[:200]}")
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise Unreachable(f"Alertmanager at {self.url} answered {response.status_code} without JSON") from exc
