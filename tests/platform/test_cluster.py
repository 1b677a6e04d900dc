"""Local clusters: one process may start one after another (two experiments in a row, as a
notebook would), each with its own token."""

from __future__ import annotations

import subprocess
import sys

TWO_CLUSTERS = """
import tempfile
from pathlib import Path
from atrc_nas.platform.cluster import ray_cluster
for i in range(2):
    with ray_cluster("local", experiment_dir=Path(tempfile.mkdtemp()), num_cpus=1,
                     dashboard=False) as cluster:
        import ray
        print(i, ray.get(ray.remote(lambda: "answered").remote()), cluster.token_file)
"""


def test_two_local_clusters_one_after_the_other_in_one_process(tmp_path):
    done = subprocess.run([sys.executable, "-c", TWO_CLUSTERS], capture_output=True,
                          text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [line.split() for line in done.stdout.splitlines() if "answered" in line]
    assert [line[:2] for line in lines] == [["0", "answered"], ["1", "answered"]]
    assert lines[0][2] != lines[1][2]  # each experiment's own token
