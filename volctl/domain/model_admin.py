"""POST /admin/model, the same in the predict and the consume service: switch the served model
without a restart.

The target is loaded and verified (sha256 against the manifest, and against `expect_sha` when the
caller sends one, so both services provably load the same artifact) before one atomic swap;
requests and batches in flight finish on the model they started with. The choice is the stack's,
persisted once in the state directory (every service starts on it), and every call is appended to
the audit log. A switch is part of a stack-wide change (`volctl rollback` sends its change_id to
each service in turn); one service alone is refused: /predict and the stream would answer from
two models.
The bearer token is re-read on every call: a token created or rotated after start applies at once.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from volctl.domain.clock import utc_iso
from volctl.domain.errors import ConfigError, ModelIntegrityError, VolctlError, disk_full
from volctl.domain.files import no_room, stage_bytes, write_atomically
from volctl.domain.registry import Registry
from volctl.domain.settings import Settings
from volctl.domain.text import printable
from volctl.domain.variants import AUTO, VARIANTS

if TYPE_CHECKING:
    from volctl.domain.model import Scorer

ADMIN_PATH = "/admin/model"
TOKEN_FILE = "admin_token"
AUDIT_FILE = "audit.jsonl"
MAX_ADMIN_BODY = 16 * 1024
_TEXT_LIMIT = 300  # actor and reason come from the caller: bounded before they reach the audit log

log = logging.getLogger("volctl.admin")


def read_admin_token(settings: Settings) -> str:
    """The configured token, else the one `volctl up` generated in the state directory, else ''."""
    if settings.admin_token:
        return settings.admin_token
    try:
        return (settings.state_path / TOKEN_FILE).read_text().strip()
    except OSError:
        return ""


def audit_path(settings: Settings) -> Path:
    return settings.state_path / AUDIT_FILE


def choice_path(settings: Settings) -> Path:
    """The stack's one served model: every predict worker and consume member starts on it."""
    return settings.state_path / "model" / "served.json"


def recorded_choice(settings: Settings) -> dict[str, Any] | None:
    """The stack's last switch ({variant, version, at, actor, change_id}); None before any."""
    chosen = _read_json(choice_path(settings))
    return chosen if chosen and chosen.get("variant") and chosen.get("version") else None


def initial_model(settings: Settings) -> tuple[Scorer, str]:
    """The model a starting service serves: the stack's recorded choice (the last switch) when
    there is one that still loads, else the configured variant and version. Returns (model, why)."""
    registry = Registry(settings.registry_path)
    chosen = _read_json(choice_path(settings))
    if chosen:
        try:
            model = registry.load(chosen.get("version") or None, chosen.get("variant", ""))
            return model, f"kept from the switch at {chosen.get('at')} by {chosen.get('actor')}"
        except VolctlError as exc:
            log.error("the persisted model choice %s no longer loads (%s); using the configured one",
                      chosen, exc.message)
    model = registry.load(settings.model.version or None, settings.model.variant)
    if settings.model.variant == AUTO:
        return model, "configured auto: the variant the version's evaluation recommends"
    return model, "configured"


class ShadowHooks(Protocol):
    """A service that scores challengers in shadow (the consume service)."""

    def add_shadow(self, model: Scorer) -> None: ...  # ValueError when it cannot score it

    def remove_shadow(self, version: str, variant: str) -> bool: ...

    def shadow_models(self) -> list[Scorer]: ...


def shadow_path(settings: Settings, service: str) -> Path:
    return settings.state_path / f"shadow-{service}.json"


def initial_shadow(settings: Settings, service: str) -> list[Scorer]:
    """The challengers added with `volctl shadow add` before a restart (those that still load)."""
    registry = Registry(settings.registry_path)
    found = []
    for entry in (_read_json(shadow_path(settings, service)) or {}).get("models", []):
        try:
            model = registry.load(entry.get("version"), entry.get("variant", ""))
        except VolctlError as exc:
            log.error("shadow model %s no longer loads (%s); not scored", entry, exc.message)
            continue
        found.append(model)
    return found


@dataclass(frozen=True)
class AdminReply:
    status: int
    document: dict[str, Any]
    outcome: str  # the counter label: switched, unchanged, dry_run, unauthorized, forbidden, ...


class ModelAdmin:
    """Handles admin calls for one service. `install` swaps the model in (raising ValueError when
    the service cannot serve it); `current` returns the model served now."""

    def __init__(self, service: str, settings: Settings, current: Callable[[], Scorer | None],
                 install: Callable[[Scorer], None], count: Callable[[str], None],
                 shadow: ShadowHooks | None = None) -> None:
        self.service = service
        self.settings = settings
        self._shadow = shadow
        self._current = current
        self._install = install
        self._count = count
        self._lock = threading.Lock()  # one switch at a time; serving never waits on it

    def refusal(self, authorization: str | None) -> AdminReply | None:
        """The answer to a caller without a valid token (counted), or None: the HTTP layers ask
        before they read a body, so an unauthenticated upload is never buffered."""
        reply = self._check_token(authorization)
        if reply is not None:
            self._count(reply.outcome)
        return reply

    def handle(self, authorization: str | None, body: bytes) -> AdminReply:
        reply = self._check_token(authorization) or self._handle(body)
        self._count(reply.outcome)
        return reply

    def _check_token(self, authorization: str | None) -> AdminReply | None:
        token = read_admin_token(self.settings)
        if not token:
            return self._refuse(403, "forbidden", "admin is disabled: no token configured",
                                "run `volctl up` (it generates one) or set admin_token")
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not given:
            return self._refuse(401, "unauthorized", "missing bearer token",
                                f"send 'Authorization: Bearer <token>' (the token is in {TOKEN_FILE})")
        if not hmac.compare_digest(given.strip().encode(errors="surrogateescape"), token.encode()):
            return self._refuse(403, "forbidden", "wrong token", "use the token of this deployment")
        return None

    def _handle(self, body: bytes) -> AdminReply:
        try:
            request = _parse_request(body)
        except ValueError as exc:
            return self._refuse(400, "bad_request", str(exc),
                                '{"variant": ' + "|".join(f'"{v}"' for v in VARIANTS) +
                                ', "version": "...", "reason": "..."}')
        with self._lock:
            if request["action"] != "serve":
                return self._shadow_change(request)
            return self._switch(request)

    def _shadow_change(self, request: dict[str, Any]) -> AdminReply:
        """Add or remove a challenger scored in shadow: sha256-verified, audited, persisted."""
        if self._shadow is None:
            return self._refuse(404, "not_found", f"the {self.service} service scores no shadow models",
                                "shadow models are scored by the consume service")
        before = {"shadow": [_describe(m) for m in self._shadow.shadow_models()]}
        served = self._current()
        version = request["version"] or (served.version if served else "")
        if request["action"] == "shadow_remove":
            if not self._shadow.remove_shadow(version, request["variant"]):
                return self._refuse(404, "not_found", f"{request['variant']} {version} is not scored in shadow",
                                    "see `volctl shadow list`")
            outcome = "shadow_removed"
        else:
            model = self._load_verified(request, version, before)
            if isinstance(model, AdminReply):
                return model
            try:
                self._shadow.add_shadow(model)
            except ValueError as exc:
                return self._audited(request, before, 409, "incompatible", str(exc))
            outcome = "shadow_added"
        after = {"shadow": [_describe(m) for m in self._shadow.shadow_models()]}
        write_atomically(shadow_path(self.settings, self.service), json.dumps(
            {"models": after["shadow"], "at": utc_iso(timespec="milliseconds"), "actor": request["actor"]},
            indent=2, sort_keys=True))
        self._audit(request, before, after, outcome, f"{request['variant']} {version}")
        return AdminReply(200, {"service": self.service, "before": before, "after": after, "changed": True},
                          outcome)

    def _switch(self, request: dict[str, Any]) -> AdminReply:
        before = _describe(self._current())
        version = request["version"] or before.get("version") or None
        started = time.perf_counter()
        model = self._load_verified(request, version, before)
        if isinstance(model, AdminReply):
            return model
        loaded_s = time.perf_counter() - started
        after = _describe(model)
        no_room = self._no_room()
        if request["dry_run"]:
            if no_room is not None:
                return self._unrecorded(request, before, after, no_room)
            return AdminReply(200, {"service": self.service, "dry_run": True, "before": before, "after": after,
                                    "load_ms": round(loaded_s * 1000, 2)}, "dry_run")
        if all(before.get(key) == after[key] for key in ("variant", "version", "sha")):
            return AdminReply(200, {"service": self.service, "before": before, "after": after, "changed": False,
                                    "load_ms": round(loaded_s * 1000, 2), "swap_ms": 0.0}, "unchanged")
        if not request["change_id"]:  # one service alone would split the stack: /predict and the stream
            self._audit(request, before, after, "split_refused", "no change_id: not part of a stack-wide switch")
            return self._refuse(409, "split_refused", f"switching the {self.service} service alone would serve two "
                                "models (predict and the stream)", f"switch every service: `volctl rollback --to "
                                f"{after['variant']}` (it sends a change_id and verifies each)")
        if no_room is not None and not request["revert"]:  # a revert may use what is left: it undoes a split
            return self._unrecorded(request, before, after, no_room)
        # All or nothing: the choice is written (not yet in place) before the swap and the audit line
        # after it; a write that fails undoes the swap. A full disk once left predict on ml, consume
        # on baseline and no audit line.
        current = self._current()
        try:
            choice = stage_bytes(choice_path(self.settings), self._choice(request, after))
        except OSError as exc:
            return self._unrecorded(request, before, after, exc)
        swap_started = time.perf_counter()
        try:
            self._install(model)
        except ValueError as exc:
            choice.discard()
            return self._audited(request, before, 409, "incompatible", str(exc))
        swap_s = time.perf_counter() - swap_started
        try:
            self._audit(request, before, after, "switched", "")
        except OSError as exc:
            if current is not None:
                self._install(current)
            choice.discard()
            return self._unrecorded(request, before, after, exc)
        choice.commit()
        log.warning("model switched by %s: %s %s -> %s %s (%s)", request["actor"], before.get("variant"),
                    before.get("version"), after["variant"], after["version"], request["reason"] or "no reason")
        return AdminReply(200, {"service": self.service, "before": before, "after": after, "changed": True,
                                "load_ms": round(loaded_s * 1000, 2), "swap_ms": round(swap_s * 1000, 3)},
                          "switched")

    def _load_verified(self, request: dict[str, Any], version: str | None, before: dict[str, Any]
                       ) -> Scorer | AdminReply:
        """The requested model from this service's registry, its sha256 checked against what the
        caller expects; else the (audited) refusal."""
        try:
            model = Registry(self.settings.registry_path).load(version, request["variant"])
        except ModelIntegrityError as exc:
            return self._audited(request, before, 409, "integrity", exc.message)
        except ConfigError as exc:
            return self._audited(request, before, 404, "not_found", exc.message)
        if request["expect_sha"] and request["expect_sha"] != model.sha256:
            return self._audited(request, before, 409, "integrity",
                                 f"{model.variant} {model.version} here has sha256 {model.sha256[:12]}…, "
                                 f"the caller expected {request['expect_sha'][:12]}… (registries differ)")
        return model

    def _refuse(self, status: int, outcome: str, message: str, hint: str) -> AdminReply:
        log.warning("admin call refused (%s): %s", outcome, message)
        return AdminReply(status, {"detail": message, "hint": hint, "service": self.service}, outcome)

    def _audited(self, request: dict[str, Any], before: dict[str, Any], status: int, outcome: str,
                 message: str) -> AdminReply:
        self._audit(request, before, {"variant": request["variant"], "version": request["version"]}, outcome, message)
        return self._refuse(status, outcome, message, "check `volctl model list` and the registry")

    def _choice(self, request: dict[str, Any], after: dict[str, Any]) -> bytes:
        document = {**after, "at": utc_iso(timespec="milliseconds"), "actor": request["actor"],
                    "change_id": request["change_id"]}
        return json.dumps(document, indent=2, sort_keys=True).encode()

    def _no_room(self) -> OSError | None:
        """ENOSPC when the state dir's disk has less than MIN_FREE_BYTES free (checked before a dry
        run too: `volctl rollback` then stops before anything is switched)."""
        return no_room(self.settings.state_path, "a switch")

    def _unrecorded(self, request: dict[str, Any], before: dict[str, Any], after: dict[str, Any],
                    exc: OSError) -> AdminReply:
        """Nothing switched because the choice or the audit line cannot be written: 507 when the disk
        is full (the caller reports it as "could not", not as a refusal of the model)."""
        full = disk_full(exc, self.settings.state_path)
        message = full.message if full else f"cannot record the switch in {self.settings.state_path}: {exc}"
        with contextlib.suppress(OSError):  # told in the log and the answer when not in the audit too
            self._audit(request, before, after, "disk_full" if full else "unrecorded", message)
        log.error("model switch not made: %s", message)
        return AdminReply(507 if full else 500, {"detail": message, "service": self.service,
                                                 "hint": full.hint if full else "check the state dir"},
                          "disk_full" if full else "unrecorded")

    def _audit(self, request: dict[str, Any], before: dict[str, Any], after: dict[str, Any], outcome: str,
               detail: str) -> None:
        entry = {"at": utc_iso(timespec="milliseconds"), "service": self.service, "actor": request["actor"],
                 "reason": request["reason"], "change_id": request["change_id"], "from": before, "to": after,
                 "outcome": outcome, "detail": detail}
        path = audit_path(self.settings)
        path.parent.mkdir(parents=True, exist_ok=True)
        # ensure_ascii: any string the caller sent (a lone surrogate too) is stored as a valid escape.
        # One write of one line: appends from two services do not interleave.
        with path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry, sort_keys=True, ensure_ascii=True) + "\n")


ACTIONS = ("serve", "shadow_add", "shadow_remove")


def _parse_request(body: bytes) -> dict[str, Any]:
    if len(body) > MAX_ADMIN_BODY:
        raise ValueError(f"body larger than {MAX_ADMIN_BODY} bytes")
    try:
        document = json.loads(body or b"{}")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"body is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise ValueError("body must be a JSON object")
    variant = document.get("variant")
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
    text = {key: document.get(key) for key in ("version", "expect_sha", "actor", "reason", "change_id")}
    for key, value in text.items():
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{key} must be a string")
    for flag in ("dry_run", "revert"):
        if not isinstance(document.get(flag, False), bool):
            raise ValueError(f"{flag} must be true or false")
    action = document.get("action", "serve")
    if action not in ACTIONS:
        raise ValueError(f"action must be one of {', '.join(ACTIONS)}, got {action!r}")
    return {"variant": variant, "version": printable(text["version"] or ""),
            "expect_sha": printable(text["expect_sha"] or "", 64),
            "actor": printable(text["actor"] or "unknown", _TEXT_LIMIT),
            "reason": printable(text["reason"] or "", _TEXT_LIMIT),
            "change_id": printable(text["change_id"] or "", 64), "dry_run": document.get("dry_run", False),
            "revert": document.get("revert", False), "action": action}


def _describe(model: Scorer | None) -> dict[str, Any]:
    if model is None:
        return {}
    return {"variant": model.variant, "version": model.version, "sha": model.sha256}


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None
