"""One local Ray cluster on 127.0.0.1 for all platform tests (shut down after them, so
the rest of the suite does not share the machine with it)."""

import pytest


@pytest.fixture(scope="package")
def cluster(tmp_path_factory):
    from atrc_nas.platform.cluster import ray_cluster

    folder = tmp_path_factory.mktemp("ray_session")
    with ray_cluster("local", experiment_dir=folder, num_cpus=2) as running:
        yield running
