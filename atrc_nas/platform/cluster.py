"""The Ray cluster of a launch: a fresh local one bound to 127.0.0.1, or a running one joined.

A local cluster listens on loopback only: Ray takes the loopback address as the node
address only when ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` is set before ``ray`` is imported
(with ``_node_ip_address`` and ``dashboard_host`` alone the GCS, raylet and agents still
listen on every interface). Token authentication stays on, with a token kept in the
experiment folder. Ray's temp and session files live in a short folder under /tmp (its
socket paths must stay under 108 bytes) that is removed at exit, and every process the
cluster started is ended by PID on every exit path; the PIDs are also written to the
experiment folder, so a launcher that was SIGKILLed leaves nothing that the next launch
does not end. The processes of a local cluster are recognised by an environment variable
they all inherit (``CLUSTER_ENV``, set to the cluster's temp folder): only they are ended.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from atrc_nas.config import ConfigError
from atrc_nas.fileio import atomic_write_json, atomic_write_text
from atrc_nas.platform.layout import ExperimentLayout

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
_LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
CLUSTER_ENV = "ATRC_NAS_RAY_CLUSTER"  # marks every process of a local cluster
CONNECT_TIMEOUT_S = 5.0  # how long a cluster to join has to answer

# Set for the driver and every worker: our own progress view instead of Tune's tables, and
# trial processes that keep their working directory (configs hold absolute paths anyway).
# The experiment state is saved after every checkpoint on purpose (each trial keeps one):
# Tune's warning about frequent snapshots is off. Ray Train's controller looks at its
# workers every 0.2 s instead of every 2 s: it sees a started, reporting or finished worker
# group at once (measured: about 2 s less per training run; benchmarks/platform_overhead.py).
WORKER_ENV = {"RAY_AIR_NEW_OUTPUT": "0", "RAY_CHDIR_TO_TRIAL_DIR": "0",
              "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "0", "PYTHONUNBUFFERED": "1",
              "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "0",
              "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.2"}


@dataclass
class Cluster:
    """What a launch needs to know about its cluster."""

    local: bool
    address: str
    dashboard_url: str | None
    token_file: Path | None
    resources: dict[str, float]
    temp_dir: str | None = None  # local clusters: Ray's temp and session folder

    def dashboard_help(self) -> str:
        """How to open the dashboard (the URL, and the token it asks for)."""
        if not self.dashboard_url:
            return "Ray dashboard: off"
        lines = [f"Ray dashboard: {self.dashboard_url}"]
        if self.token_file is not None:
            lines.append(
                f"  token auth is on: paste the token in {self.token_file} when the page asks, "
                f"or: curl -H \"Authorization: Bearer $(cat {self.token_file})\" "
                f"{self.dashboard_url}/api/version")
        return "\n".join(lines)


def _ray_imported_without_loopback() -> bool:
    if "ray" not in sys.modules:
        return False
    from ray._private import ray_constants

    return bool(ray_constants.ENABLE_RAY_CLUSTER)


def prepare_loopback() -> None:
    """Make a local cluster take 127.0.0.1 as its node address; must run before ``ray`` is
    imported in this process (it is read once, at import)."""
    os.environ[_LOOPBACK_ENV] = "0"
    if _ray_imported_without_loopback():
        raise RuntimeError("ray was imported before the loopback setting could apply; start "
                           "a local cluster through atrc_nas.platform.cluster first")


def _token(layout: ExperimentLayout) -> Path:
    """The experiment's dashboard/cluster token (created once, readable by its owner only)."""
    path = layout.ray_token_file
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, secrets.token_hex(32))
        path.chmod(0o600)
    return path


def _ray_processes(temp_dir: str) -> list[psutil.Process]:
    """Every live process of the cluster whose temp folder is ``temp_dir``: its processes
    inherit ``CLUSTER_ENV`` set to that folder (workers and agents included, whatever their
    process title), and no other process has it; the agents the raylet starts with an
    environment of their own are found as its children."""
    found: dict[int, psutil.Process] = {}
    for proc in psutil.process_iter(["pid"]):
        if proc.pid == os.getpid():
            continue
        with contextlib.suppress(psutil.Error):
            if proc.environ().get(CLUSTER_ENV) == temp_dir:
                found[proc.pid] = proc
                found.update((c.pid, c) for c in proc.children(recursive=True))
    found.pop(os.getpid(), None)
    return list(found.values())


def end_processes(procs: list[psutil.Process], grace_s: float = 3.0) -> list[int]:
    """SIGTERM, then SIGKILL after ``grace_s``; returns the PIDs that were still alive."""
    alive = [p for p in procs if p.is_running()]
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.terminate()
    _, left = psutil.wait_procs(alive, timeout=grace_s)
    for proc in left:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(left, timeout=grace_s)
    return [p.pid for p in alive]


def end_stale_cluster(layout: ExperimentLayout) -> list[int]:
    """End what a previous launch of this experiment left running (it was killed before it
    could shut its cluster down): processes of its temp folder only, found by PID."""
    pids_file = layout.ray_processes_file
    if not pids_file.is_file():
        return []
    try:
        record = json.loads(pids_file.read_text())
    except json.JSONDecodeError:
        record = {}
    temp_dir = record.get("temp_dir")
    ended: list[int] = []
    if temp_dir:
        ended = end_processes(_ray_processes(temp_dir))
        shutil.rmtree(temp_dir, ignore_errors=True)
    pids_file.unlink(missing_ok=True)
    if ended:
        log.warning("ended %d Ray processes left by an earlier launch of this experiment",
                    len(ended))
    return ended


def _record_processes(layout: ExperimentLayout, temp_dir: str) -> None:
    pids = sorted(p.pid for p in _ray_processes(temp_dir))
    atomic_write_json(layout.ray_processes_file, {"temp_dir": temp_dir, "pids": pids,
                                                  "launcher": os.getpid()})


def check_answers(address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """A cluster to join must answer at ``HOST:PORT`` (or ``ray://HOST:PORT``) within
    ``timeout_s``; else a ConfigError naming the address (Ray itself would retry for
    minutes)."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not port.isdigit():
        return  # "auto": Ray finds the address itself
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            pass
    except OSError as err:
        raise ConfigError(f"ray.address {address}: no Ray cluster answers there within "
                          f"{timeout_s:g} s ({err.strerror or err}); start one with `ray "
                          "start --head` or use ray.address=local") from None


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[Callable[[], None]]:
    """SIGTERM does what Ctrl-C does: Ray Tune's own interrupt handler while a stage runs
    (it stops the trials and saves the stage for a rerun), KeyboardInterrupt otherwise, so
    cleanup runs (a plain SIGTERM would end Python without running ``finally`` blocks).
    Yields a function that puts the handler back in place: ``ray.init`` installs Ray's own,
    which aborts the process."""

    def handler(signum: int, frame: Any) -> None:
        interrupt = signal.getsignal(signal.SIGINT)
        if not callable(interrupt):
            raise KeyboardInterrupt(f"signal {signum}")
        interrupt(signal.SIGINT, frame)  # Python's default raises KeyboardInterrupt

    def install() -> None:
        signal.signal(signal.SIGTERM, handler)

    try:
        previous = signal.getsignal(signal.SIGTERM)
        install()
    except ValueError:  # not the main thread: leave signals alone
        yield lambda: None
        return
    try:
        yield install
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def ray_cluster(address: str | None, *, experiment_dir: Path, dashboard: bool = True,
                dashboard_port: int | None = None, num_cpus: int | None = None,
                num_gpus: int | None = None) -> Iterator[Cluster]:
    """A connected Ray cluster for the ``with`` block, shut down on every exit path.

    ``address`` None uses ``$RAY_ADDRESS`` when set, else starts a local cluster, as does
    ``"local"``; anything else joins that running cluster (its own network and auth
    settings apply, and no resources are set here).
    """
    address = address or os.environ.get("RAY_ADDRESS") or "local"
    local = address == "local"
    layout = ExperimentLayout(experiment_dir)
    if not local:
        check_answers(address)
    os.environ.update(WORKER_ENV)
    token_file: Path | None = None
    temp_dir: str | None = None
    if local:
        prepare_loopback()
        end_stale_cluster(layout)
        token_file = _token(layout)
        # Unset, ray.init turns token mode on for the new cluster and this process alike
        # (setting it here would not reach a process that has already imported ray).
        os.environ.pop("RAY_AUTH_MODE", None)
        os.environ["RAY_AUTH_TOKEN_PATH"] = str(token_file)
        os.environ.pop("RAY_AUTH_TOKEN", None)
        temp_dir = tempfile.mkdtemp(prefix="atrc_ray_", dir="/tmp")
        os.environ[CLUSTER_ENV] = temp_dir
    import ray

    if local:
        # Ray reads the token file once per process: a second cluster (another experiment's
        # token) in the same process must make it read the file again
        from ray._raylet import AuthenticationTokenLoader

        AuthenticationTokenLoader.instance().reset_cache()
    with _terminate_as_interrupt() as on_terminate_raise:
        started = time.monotonic()
        try:
            if local:
                assert temp_dir is not None
                context = ray.init(
                    address="local", num_cpus=num_cpus, num_gpus=num_gpus,
                    include_dashboard=dashboard, dashboard_host=LOOPBACK,
                    dashboard_port=dashboard_port, _node_ip_address=LOOPBACK,
                    _temp_dir=temp_dir, log_to_driver=False, configure_logging=False,
                    runtime_env={"env_vars": dict(WORKER_ENV)},
                )
                _record_processes(layout, temp_dir)
            else:
                context = ray.init(address=address, log_to_driver=False,
                                   configure_logging=False,
                                   runtime_env={"env_vars": dict(WORKER_ENV)})
            on_terminate_raise()
            url = context.dashboard_url
            cluster = Cluster(
                local=local, address=context.address_info.get("gcs_address", address),
                dashboard_url=f"http://{url}" if url else None, token_file=token_file,
                resources={k: float(v) for k, v in ray.cluster_resources().items()},
                temp_dir=temp_dir,
            )
            log.info("Ray cluster ready in %.1f s (%s)", time.monotonic() - started,
                     "local" if local else address)
            yield cluster
        finally:
            procs = _ray_processes(temp_dir) if temp_dir else []
            with contextlib.suppress(Exception):
                ray.shutdown()
            if temp_dir:
                left = end_processes(procs + _ray_processes(temp_dir))
                if left:
                    log.debug("ended %d Ray processes after shutdown", len(left))
                shutil.rmtree(temp_dir, ignore_errors=True)
                layout.ray_processes_file.unlink(missing_ok=True)
                os.environ.pop(CLUSTER_ENV, None)
