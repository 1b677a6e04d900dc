"""One local Ray cluster on 127.0.0.1 for the platform tests that need one: started by the
first of them, shut down after the last test of this folder, so the rest of the suite does
not share the machine with it."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

_HERE = Path(__file__).parent
_shared: dict[str, object] = {}


@pytest.fixture
def cluster(tmp_path_factory):
    if "cluster" not in _shared:
        from atrc_nas.platform.cluster import ray_cluster

        stack = contextlib.ExitStack()
        folder = tmp_path_factory.mktemp("ray_session")
        _shared["cluster"] = stack.enter_context(
            ray_cluster("local", experiment_dir=folder, num_cpus=2))
        _shared["stack"] = stack
    return _shared["cluster"]


def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    leaving = nextitem is None or _HERE not in Path(str(nextitem.path)).parents
    if leaving and "stack" in _shared:
        _shared.pop("cluster")
        _shared.pop("stack").close()  # type: ignore[attr-defined]
