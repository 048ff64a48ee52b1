"""Attacks and careless input against the real predict and consume services (issue 12, points 1-4):
the registry cannot be escaped, unauthenticated bodies are never buffered, any string survives the
audit log, and every response (a failure in the error path too) is counted."""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
from pathlib import Path

import httpx
import pytest

from tests.conftest import rss_kib
from tests.test_predict_service import _metric
from volctl.domain.registry import ModelNotFound, Registry

pytestmark = pytest.mark.integration
TOKEN = "test-token-for-hardening"


@pytest.fixture
def admin_predict(start_predict, trained_registry: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    registry = tmp_path / "registry"
    shutil.copytree(trained_registry, registry)
    monkeypatch.setenv("VOLCTL_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("VOLCTL_ADMIN_TOKEN", TOKEN)
    return start_predict(registry), registry, tmp_path / "state"


def _auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


def _outside_copy(registry: Path, outside: Path) -> Path:
    """A folder outside the registry whose manifest matches its own joblib file: the sha256 check
    alone would accept it."""
    version = Registry(registry).latest()
    shutil.copytree(registry / version, outside)
    manifest = json.loads((outside / "manifest.json").read_text())
    manifest["version"] = outside.name
    (outside / "manifest.json").write_text(json.dumps(manifest))
    return outside


def test_a_version_is_a_name_never_a_path(trained_registry: Path, tmp_path: Path) -> None:
    registry_root = tmp_path / "registry"
    shutil.copytree(trained_registry, registry_root)
    outside = _outside_copy(registry_root, tmp_path / "elsewhere" / "evil")
    (registry_root / "linked").symlink_to(outside)  # a link inside that leads out
    registry = Registry(registry_root)
    for name in (str(outside), "../elsewhere/evil", "linked", "..", ".", "a/b", "x\\y", "\ud800"):
        with pytest.raises(ModelNotFound):
            registry.load(name, "ml")
    assert registry.load(registry.latest(), "baseline").variant == "baseline"


def test_admin_refuses_a_version_outside_the_registry(admin_predict, tmp_path: Path) -> None:
    service, registry, state = admin_predict
    before = httpx.get(service.url + "/version").json()
    outside = _outside_copy(registry, tmp_path / "outside" / "20990101-000000-real")
    for version in (str(outside), f"../outside/{outside.name}"):
        reply = httpx.post(service.url + "/admin/model", headers=_auth(),
                           json={"variant": "ml", "version": version, "actor": "attacker"})
        assert reply.status_code == 404, reply.text
        assert "not a model version name" in reply.json()["detail"]
    assert httpx.get(service.url + "/version").json() == before
    assert not (state / "model" / "served.json").exists()  # nothing persisted


def _raw_post(url: str, path: str, headers: dict[str, str], body_chunk: bytes, declared: int) -> int:
    """Send headers declaring `declared` bytes and only a first chunk: the status line the server
    answers with before (or without) reading the rest."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {declared}\r\n{head}\r\n".encode() + body_chunk)
        return int(sock.recv(4096).split(b" ", 2)[1])


def test_unauthenticated_and_oversized_bodies_are_refused_before_they_are_read(admin_predict) -> None:
    service, _, _ = admin_predict
    pid = service.process.pid
    rss_before = rss_kib(pid)
    big = 200 * 1024 * 1024
    assert _raw_post(service.url, "/admin/model", {}, b"x" * 65536, big) == 401
    assert _raw_post(service.url, "/admin/model", {"Authorization": "Bearer wrong"}, b"x" * 65536, big) == 403
    assert _raw_post(service.url, "/admin/model", _auth(), b"x" * 65536, big) == 413
    assert _raw_post(service.url, "/health", {}, b"x" * 65536, big) == 413
    # A chunked upload declares no length: cut at the cap while streaming.
    chunks = (b"x" * 65536 for _ in range(64))
    reply = httpx.post(service.url + "/admin/model", headers=_auth(), content=chunks)
    assert reply.status_code == 413
    assert rss_kib(pid) - rss_before < 50 * 1024  # nothing like 200 MiB was buffered
    metrics = httpx.get(service.url + "/metrics").text
    assert _metric(metrics, "volatility_model_switches_total", outcome="unauthorized") == 1
    assert _metric(metrics, "volatility_api_requests_total", endpoint="/admin/model", status="413") == 2


def test_a_lone_surrogate_is_a_counted_422_and_survives_the_audit_log(admin_predict) -> None:
    service, _registry, state = admin_predict
    features = httpx.get(service.url + "/version").json()["features"]
    row = ", ".join(f'"{name}": 0.5' for name in features)
    bodies = [f'{{"rows": [{{{row}, "\\ud800": 1}}]}}', '{"rows": [{"\\udfff": 1}]}',
              '{"rows": [{"\\ud800\\ud800": "\\ud800"}]}']
    for body in bodies:
        reply = httpx.post(service.url + "/predict", content=body.encode())
        assert reply.status_code == 422, reply.text
        assert "\\ud" in reply.json()["detail"]
    metrics = httpx.get(service.url + "/metrics").text
    assert _metric(metrics, "volatility_api_requests_total", endpoint="/predict", status="422") == 3
    assert _metric(metrics, "volatility_api_requests_total", status="500") == 0
    assert _metric(metrics, "volatility_prediction_latency_seconds_count") == 3

    # An authenticated refusal with a lone surrogate in actor and reason is audited, and reads back.
    reply = httpx.post(service.url + "/admin/model", headers={**_auth(), "Content-Type": "application/json"},
                       content=b'{"variant": "ml", "version": "nosuch-\\ud800", "actor": "\\ud800", '
                               b'"reason": "x\\udfffy"}')
    assert reply.status_code == 404
    from volctl.core.operations.rollback import rollback_history
    from volctl.domain.settings import load_settings

    entries = rollback_history(load_settings(env={}, overrides={"state_dir": str(state)}))
    assert entries[-1]["actor"] == "\\ud800" and entries[-1]["outcome"] == "not_found"
    json.dumps(entries, ensure_ascii=False).encode("utf-8")  # printable everywhere


def _raw_head(url: str, header_bytes: int) -> bytes:
    """A GET whose one header holds `header_bytes` bytes, sent in 64 KiB pieces: what came back
    (nothing, when the server closed before answering)."""
    host, port = url.removeprefix("http://").split(":")
    reply = b""
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ")
        try:
            for _ in range(header_bytes // 65536):
                sock.sendall(b"a" * 65536)
            sock.sendall(b"\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused midway: the answer is already there
        with contextlib.suppress(ConnectionResetError, TimeoutError):
            while chunk := sock.recv(4096):
                reply += chunk
    return reply


def test_a_huge_request_head_is_refused_without_being_held(admin_predict) -> None:
    """Issue 41, point 7: four 100 MB headers took predict from 70 to 500 MB and were answered 200
    (consume and the receiver answer 431)."""
    service, _, _ = admin_predict
    pid = service.process.pid
    rss_before = rss_kib(pid)
    for _ in range(4):
        reply = _raw_head(service.url, 32 * 1024 * 1024)
        assert reply.startswith(b"HTTP/1.1 431 "), reply[:200]
    assert rss_kib(pid) - rss_before < 20 * 1024  # nothing like 32 MiB held, let alone 128
    assert _raw_head(service.url, 4 * 65536).startswith(b"HTTP/1.1 200 ")  # 256 KiB of cookies: answered
    assert httpx.get(service.url + "/health").status_code == 200
    metrics = httpx.get(service.url + "/metrics").text
    assert _metric(metrics, "volatility_api_errors_total", endpoint="any", error_type="head_too_large") == 4


def test_unknown_fields_are_named_within_a_bound(admin_predict) -> None:
    """Issue 41, point 7: a 3 MB body of unknown field names came back as a 3 MB 422."""
    service, _, _ = admin_predict
    features = httpx.get(service.url + "/version").json()["features"]
    row = {name: 0.5 for name in features} | {f"field_{i:07d}_" + "x" * 20: 1 for i in range(100_000)}
    top = {"rows": [{name: 0.5 for name in features}], **{f"top_{i}": 1 for i in range(50_000)}}
    for body in ({"rows": [row]}, top):
        reply = httpx.post(service.url + "/predict", json=body, timeout=30)
        assert reply.status_code == 422, reply.text[:300]
        assert len(reply.content) < 2000, len(reply.content)
        detail = reply.json()["detail"]
        assert "more" in detail and ("field_0000000_" in detail or "top_0" in detail), detail
