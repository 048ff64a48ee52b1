"""Shared fixtures: the real recordings, a registry trained on them, real service processes."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, settings

pytest_plugins = ("tests.stacks",)  # the shared stacks (healthy_stack, slow_stack) for every module
# No property test may depend on how fast the machine is: no per-example deadline, and a slow draw
# on a busy machine is no failure (CI: "only 5 valid inputs after 1.28 s", beside other work).
settings.register_profile("volctl", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("volctl")
ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = (ROOT / ".." / "shared" / "data").resolve()


def _port_block() -> range:
    """This test process's own ports: a block of 500 below Linux's ephemeral range (32768+), one per
    xdist worker of a run and another for the next run (keyed by the run's id, or the pid outside
    xdist), so neither another worker's or session's tests nor an outgoing connection can take a
    port between the moment it is chosen and the moment a service binds it."""
    import zlib

    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker[2:]) if worker[2:].isdigit() else 0
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID") or str(os.getpid())
    block = (zlib.crc32(run.encode()) + index) % 25
    start = 20000 + block * 500
    return range(start, start + 500)


_cursor = [random.randrange(500)]  # consecutive runs start at different ports


def free_ports_in_a_row(count: int) -> int:
    """The first of `count` consecutive free ports (members of a scaled service use port + i).

    One cursor walks the block whatever the count, so nothing handed out is handed out again
    before the cursor has gone round all 500 ports: a port chosen for a service that has not bound
    it yet passes the bind check below, and only the cursor keeps it from being chosen twice."""
    block = _port_block()
    for _ in range(len(block)):
        if _cursor[0] + count > len(block):
            _cursor[0] = 0
        base = block.start + _cursor[0]
        _cursor[0] += count
        try:
            for port in range(base, base + count):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError(f"no {count} free ports in a row in {block}")


def free_port() -> int:
    return free_ports_in_a_row(1)


# Every port a stack, a service or a check can reach: a test that leaves one at its default reaches
# whatever else runs on the machine (another volctl stack on 8000, 8001, 9090...).
PORT_KEYS = ("kafka.embedded_port", "prometheus.url", "predict.port", "predict.worker_port", "consume.port",
             "alertmanager.url", "alertmanager.receiver_port")


def own_ports() -> dict[str, object]:
    """A value for every key of PORT_KEYS from this process's block. Scaled stacks put members on
    port + i: three consume members and two predict workers fit."""
    return {"kafka.embedded_port": free_port(), "prometheus.url": f"http://127.0.0.1:{free_port()}",
            "predict.port": free_port(), "predict.worker_port": free_ports_in_a_row(2),
            "consume.port": free_ports_in_a_row(3), "alertmanager.url": f"http://127.0.0.1:{free_port()}",
            "alertmanager.receiver_port": free_port()}


def ports_env(ports: dict[str, object] | None = None) -> dict[str, str]:
    """The same as VOLCTL_* variables (for a command run without a config file of its own)."""
    return {"VOLCTL_" + key.replace(".", "_").upper(): str(value) for key, value in (ports or own_ports()).items()}


def write_config(path: Path, settings: dict[str, object], ports: dict[str, object] | None = None) -> Path:
    """A volctl.toml with every port from this process's block (or `ports`) and `settings` (dotted
    keys: "slo.min_requests"); one table per section, in a fixed order."""
    values = {**(ports or own_ports()), **settings}
    tables: dict[str, dict[str, object]] = {"": {}}
    for key, value in values.items():
        section, _, name = key.rpartition(".")
        tables.setdefault(section, {})[name] = value
    lines = []
    for section, table in tables.items():
        if section:
            lines.append(f"[{section}]")
        lines += [f"{name} = {_toml_value(value)}" for name, value in table.items()]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value))  # a TOML basic string is a JSON string


def missing_ports(config: Path) -> list[str]:
    """The port keys a config that sets some of them leaves at their defaults."""
    import tomllib

    try:
        document = tomllib.loads(config.read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return []  # a test of a broken config: nothing starts from it
    present = {key for key in PORT_KEYS if key.rpartition(".")[2] in document.get(key.rpartition(".")[0], {})}
    return sorted(set(PORT_KEYS) - present) if present else []


@pytest.fixture(scope="session", autouse=True)
def _no_default_ports(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A command a test runs without a config of its own reads this one: this worker's ports and a
    state dir of its own, never the defaults another stack on the machine may hold."""
    session = tmp_path_factory.mktemp("session")
    config = write_config(session / "volctl.toml", {"state_dir": str(session / "state")})
    previous = os.environ.get("VOLCTL_CONFIG")
    os.environ["VOLCTL_CONFIG"] = str(config)
    yield
    if previous is None:
        os.environ.pop("VOLCTL_CONFIG", None)
    else:
        os.environ["VOLCTL_CONFIG"] = previous


@pytest.fixture(autouse=True)
def _test_configs_set_every_port(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fails a test whose config (a volctl.toml: what stacks and services run with; the loader's own
    tests name theirs otherwise) sets some ports and leaves the others at their defaults."""
    yield
    tmp_path = getattr(request.node, "funcargs", {}).get("tmp_path")
    if tmp_path is not None:
        partial = {str(c): m for c in tmp_path.rglob("volctl.toml") if (m := missing_ports(c))}
        assert not partial, f"a test config leaves ports at their defaults: {partial}"


def wait_for_http(url: str, timeout_s: float = 20.0, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before {url} answered")
        try:
            httpx.get(url, timeout=0.5)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout_s} s")


VOLCTL = str(Path(sys.executable).parent / "volctl")  # the installed console script


def volctl(*args: str, env: dict[str, str] | None = None, timeout: float = 120,
           process: bool = False) -> subprocess.CompletedProcess[str]:
    """`volctl ARGS` as a user runs it, with `env` on top of this process's environment: in this
    process through typer's runner (the CLI's imports, Evidently's 8 s included, are paid once a
    worker, not once a call), or as the installed script with `process=True` (what a subprocess
    adds: a console script, signals, a timeout). Either way a CompletedProcess."""
    if process:
        return _strict_json(subprocess.run([VOLCTL, *args], cwd=ROOT, env={**os.environ, **(env or {})},
                                           capture_output=True, text=True, timeout=timeout))
    import signal
    import traceback

    from typer.testing import CliRunner

    from volctl.cli.app import app

    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}  # ingest sets its own
    here = Path.cwd()
    os.chdir(ROOT)
    try:
        if _event_loop_running():  # playwright's sync API holds one: `load` runs its own in another thread
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(1) as thread:
                result = thread.submit(CliRunner().invoke, app, list(args), env=env).result()
        else:
            result = CliRunner().invoke(app, list(args), env=env)
    finally:
        os.chdir(here)
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):  # the boundary's job
        stderr += "".join(traceback.format_exception(result.exception))
        return subprocess.CompletedProcess(["volctl", *args], 4, result.stdout, stderr)
    return _strict_json(subprocess.CompletedProcess(["volctl", *args], result.exit_code, result.stdout, stderr))


def _strict_json(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    """Every `--json` the suite runs is strict JSON (no NaN or Infinity: jq refuses them), one
    document or one per line (`--follow`); the command's words are kept for the closing figures."""
    args = [str(a) for a in result.args[1:]]
    if "--json" not in args or not result.stdout.strip():
        return result

    def refuse(constant: str) -> None:
        raise AssertionError(f"volctl {' '.join(args)} --json wrote {constant}, which is not JSON:\n"
                             + result.stdout[-2000:])

    try:
        json.loads(result.stdout, parse_constant=refuse)
    except json.JSONDecodeError:
        for line in result.stdout.splitlines():
            if line.strip():
                json.loads(line, parse_constant=refuse)
    words = []  # the command's words: "slo check", "model evaluate"
    for arg in args:
        if arg.startswith("-"):
            break
        words.append(arg)
    seen = CACHE / "json-commands"  # each worker's list, for the closing figures
    seen.mkdir(parents=True, exist_ok=True)
    with open(seen / f"{os.getpid()}.txt", "a") as handle:
        handle.write(" ".join(words) + "\n")
    return result


def _event_loop_running() -> bool:
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real recordings not found at {SHARED_DATA}")
    return SHARED_DATA


CACHE = ROOT / ".cache" / "tests"  # trained registries, reused across runs; `make clean` removes them
WEEK = "btcusd_2025-11-30_to_12-06_advtrade"  # one week of BTC: the slice several tests train on


def _fingerprint(data: list[Path] | None, seed: int, synthetic_seconds: float) -> str:
    """What decides a trained registry: the recordings' bytes, the seed, the synthetic length and
    the code that trains (volctl's domain and core). Same fingerprint, same model."""
    digest = hashlib.sha256(f"{seed} {synthetic_seconds}".encode())
    files = [f for path in data or [] for f in sorted(path.rglob("*") if path.is_dir() else [path]) if f.is_file()]
    code = sorted((ROOT / "volctl").glob("domain/**/*.py")) + sorted((ROOT / "volctl").glob("core/**/*.py"))
    for path in [*files, *code]:
        digest.update(str(path.relative_to(path.anchor)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def cached_registry(name: str, data: list[Path] | None, seed: int = 7, synthetic_seconds: float = 4 * 3600) -> Path:
    """A registry with one version trained on `data` (None: the synthetic source), trained once per
    fingerprint: the first xdist worker trains under a file lock, the others and later runs reuse
    it. Never hand it to a test that writes: `registry_copy` gives each session its own copy."""
    from filelock import FileLock

    folder = CACHE / f"{name}-{_fingerprint(data, seed, synthetic_seconds)}"
    CACHE.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder) + ".lock"):
        if not folder.is_dir():
            from volctl.core.model.dataset import load_dataset
            from volctl.core.model.training import train_model
            from volctl.domain.registry import Registry

            partial = folder.with_name(folder.name + ".partial")
            shutil.rmtree(partial, ignore_errors=True)
            train_model(load_dataset(data, synthetic_seconds=synthetic_seconds, seed=seed), Registry(partial),
                        seed=seed)
            partial.rename(folder)  # whole or not at all: an interrupted training leaves only .partial
            _prune(name, keep=2)
    return folder


def _prune(name: str, keep: int) -> None:
    """Every change to the code trains anew: the cache keeps the `keep` newest registries of a name
    (it held 46, 160 MB, after a day of changes)."""
    trained = sorted((p for p in CACHE.glob(f"{name}-*") if p.is_dir() and not p.name.endswith(".partial")),
                     key=lambda p: p.stat().st_mtime, reverse=True)
    for old in trained[keep:]:
        shutil.rmtree(old, ignore_errors=True)
        Path(str(old) + ".lock").unlink(missing_ok=True)


def registry_copy(cached: Path, tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    root = tmp_path_factory.mktemp(name) / "registry"
    shutil.copytree(cached, root)
    return root


@pytest.fixture(scope="session")
def trained_registry(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    """A registry with one version trained on all real recordings (this session's copy)."""
    return registry_copy(cached_registry("all", [shared_data]), tmp_path_factory, "registry")


@pytest.fixture(scope="session")
def week_registry(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    """A registry with one version trained on one week of BTC only: 2026 recordings are out of time."""
    return registry_copy(cached_registry("week", [shared_data / WEEK]), tmp_path_factory, "week-registry")



def rss_kib(pid: int) -> int:
    """A process's resident memory now, in KiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1])

class ServiceProcess:
    def __init__(self, args: list[str], url: str, log: Path) -> None:
        self.url = url
        self.log = log
        self._log_handle = log.open("wb")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen([sys.executable, *args], stdout=self._log_handle,
                                        stderr=subprocess.STDOUT, cwd=ROOT, env=env)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.get(self.url + path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.post(self.url + path, **kwargs)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self._log_handle.close()


@pytest.fixture
def start_predict(tmp_path: Path) -> Iterator:
    """Start `python -m services.predict` on a free port; stopped after the test."""
    started: list[ServiceProcess] = []

    def start(registry: Path, *extra: str) -> ServiceProcess:
        port = free_port()
        service = ServiceProcess(
            ["-m", "services.predict", "--port", str(port), "--registry", str(registry), *extra],
            f"http://127.0.0.1:{port}", tmp_path / f"predict-{port}.log",
        )
        started.append(service)
        wait_for_http(service.url + "/metrics", process=service.process)
        return service

    yield start
    for service in started:
        service.stop()


class InProcessPredict:
    """The predict app built as `python -m services.predict` builds it, called through
    httpx.ASGITransport: its behaviour without a process, a port or a start-up to wait for."""

    url = "http://predict.in-process"

    def __init__(self, settings: object) -> None:
        from services.predict.__main__ import build_app

        self.app, _worker = build_app(settings)  # type: ignore[arg-type]

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async def call() -> httpx.Response:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url=self.url) as client:
                return await client.request(method, path, **kwargs)

        return asyncio.run(call())

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)


@pytest.fixture
def predict_app(tmp_path: Path):
    """`predict_app(registry, variant=None)`: the predict service in this process (InProcessPredict)."""
    from volctl.domain.settings import load_settings

    def build(registry: Path, variant: str | None = None) -> InProcessPredict:
        return InProcessPredict(load_settings(overrides={
            "model.registry_dir": str(registry), "model.variant": variant, "state_dir": str(tmp_path / "state")}))

    return build


@dataclass
class Broker:
    bootstrap: str
    port: int
    supervisor: object
    settings: object


def start_test_broker(state_dir: Path) -> Broker:
    """A real embedded tansu broker on a free port, managed as `volctl up` manages it."""
    from volctl.clients.processes import Supervisor
    from volctl.core.operations.broker import start_broker
    from volctl.domain.settings import load_settings

    port = free_port()
    settings = load_settings(env={}, overrides={"state_dir": str(state_dir), "kafka.embedded_port": port})
    supervisor = Supervisor(state_dir)
    state = start_broker(settings, supervisor)
    return Broker(state.bootstrap, port, supervisor, settings)


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    broker = start_test_broker(tmp_path_factory.mktemp("broker"))
    yield broker
    broker.supervisor.stop("broker")


@pytest.fixture
def stream_env(kafka_broker: Broker, tmp_path: Path, trained_registry: Path, request: pytest.FixtureRequest):
    """Per-test topics, consumer group and consume port on the session broker."""
    from tests.streaming import StreamEnv

    suffix = re.sub(r"[^a-zA-Z0-9_-]", "-", request.node.name)[:40]
    env = StreamEnv(kafka_broker.bootstrap, kafka_broker.port, f"{suffix}-{os.getpid()}",
                    tmp_path / "state", trained_registry)
    yield env
    env.stop()


# -- tiers ----------------------------------------------------------------------------------------
# unit: in process, no port, no training (`make test-fast`); integration: a real broker, Prometheus,
# service process or trained registry; e2e: a whole stack through `volctl up`; slow: over ~20 s.
TIERS = ("unit", "integration", "e2e")
STACK_FIXTURES = frozenset({"running_stack", "alerting_stack", "scaled_stack", "stack", "loaded_stack", "healthy_stack",
                            "slow_stack"})
REAL_FIXTURES = frozenset({"trained_registry", "week_registry", "start_predict", "kafka_broker", "stream_env",
                           "receiver", "browser", "predict_url", "admin_predict"})


@pytest.hookimpl(tryfirst=True)  # before xdist's loadgroup reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test gets one tier: the highest its markers or fixtures imply (a test marked unit that
    starts anything real is an error, not a fast test). A test outside a shared stack's group runs in
    its module's group: a module's own fixtures are set up once, in one worker (`--dist loadgroup`)."""
    for item in items:
        if not any(True for _ in item.iter_markers("xdist_group")):
            item.add_marker(pytest.mark.xdist_group(item.module.__name__ if item.module else "tests"))
        marked = {m.name for m in item.iter_markers() if m.name in TIERS}
        uses = set(getattr(item, "fixturenames", ()))
        implied = "e2e" if uses & STACK_FIXTURES else "integration" if uses & REAL_FIXTURES else None
        if "unit" in marked and implied:
            real = sorted(uses & (STACK_FIXTURES | REAL_FIXTURES))
            raise pytest.UsageError(f"{item.nodeid} is marked unit but uses {real}")
        tier = next((t for t in reversed(TIERS) if t in marked or t == implied), "unit")
        if tier not in marked:
            item.add_marker(tier)
    _heaviest_groups_first(items)


LOADGROUP_BROKEN = ("--dist loadgroup does not group tests with this pytest (pytest-xdist#1386): "
                    "install the versions pyproject.toml names (make install)")


def pytest_configure(config: pytest.Config) -> None:
    """--dist loadgroup groups by a suffix xdist appends to each test id, which pytest 9.2 ignores
    (pytest-xdist#1386): the shared stacks and module fixtures would silently be set up on every
    worker. Said here, in the main process, where the message is seen."""
    import xdist

    if config.getoption("dist", "no") == "loadgroup" and pytest.version_tuple[:2] >= (9, 2) \
            and tuple(int(p) for p in xdist.__version__.split(".")[:3]) <= (3, 8, 0):
        raise pytest.UsageError(LOADGROUP_BROKEN)


@pytest.hookimpl(trylast=True)  # after xdist's worker hook has named each test's group
def pytest_collection_finish(session: pytest.Session) -> None:
    """The same by behaviour, in each worker (another version could break it again): the run stops
    (xdist shows a worker's error as an internal error, without this message)."""
    if os.environ.get("PYTEST_XDIST_WORKER") and session.config.getvalue("loadgroup") and session.items \
            and "@" not in session.items[0].nodeid:
        raise pytest.UsageError(LOADGROUP_BROKEN)


TIER_SECONDS = {"unit": 0.2, "integration": 5.0, "e2e": 30.0}  # rough costs: only the order depends on them


def _heaviest_groups_first(items: list[pytest.Item]) -> None:
    """Groups in the order of their rough cost, heaviest first (tests keep their order inside a group):
    xdist hands groups out in collection order, and a long group handed out last is a long tail
    (`--no-loadscope-reorder`: xdist would otherwise order groups by their number of tests)."""
    def group(item: pytest.Item) -> str:
        return next(item.iter_markers("xdist_group")).args[0]

    def cost(item: pytest.Item) -> float:
        tier = next((t for t in reversed(TIERS) if item.get_closest_marker(t)), "unit")
        return TIER_SECONDS[tier] + (30.0 if item.get_closest_marker("slow") else 0.0)

    weight: dict[str, float] = {}
    for item in items:
        weight[group(item)] = weight.get(group(item), 0.0) + cost(item)
    order = {item.nodeid: index for index, item in enumerate(items)}
    items.sort(key=lambda item: (-weight[group(item)], group(item), order[item.nodeid]))
