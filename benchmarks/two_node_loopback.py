"""Two Ray nodes on one machine, both on loopback, and the launcher joining them.

    python benchmarks/two_node_loopback.py        (about 3 minutes on 2 cores)

Starts a head node and a second node (Ray's ``cluster_utils.Cluster``: two raylets with
their own object stores; ``ray start --address`` refuses to add a node once Ray is told
to keep to loopback), then runs a tiny experiment through ``python -m atrc_nas.launch``
with ``ray.address`` set: its training workers need 1.5 CPUs each on nodes of 2 CPUs, so
the 2 Ray Train workers must run on both nodes. Prints the listeners of both nodes (all on
127.0.0.1), where every Ray Train worker ran, and writes
benchmarks/results/two_node_loopback.json.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # before ray is imported: loopback
OUT = Path(__file__).parent / "results" / "two_node_loopback.json"


def experiment(work: Path, address: str) -> Path:
    data = yaml.safe_load(Path("experiments/quickstart.yaml").read_text())
    data.update(name="two_nodes", output_dir=str(work / "runs"))
    data["data"]["options"]["num_images"] = 40
    data["search"].update(seeds=[0], budgets=[{"name": "free", "weight": 0.0}],
                          optim={"max_steps": 20, "lr": 0.01, "arch_lr": 0.02})
    data["search"]["trainer"]["val_every_n_steps"] = 10
    data["train"].update(baselines=["multi_task"], optim={"max_steps": 20, "lr": 0.01},
                         resources={"workers": 2, "cpus_per_worker": 1.5},
                         select={"best_per_budget": False})
    data["train"]["trainer"]["val_every_n_steps"] = 10
    data["ray"] = {"address": address, "storage_path": str(work / "storage")}
    path = work / "two_nodes.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def listeners(pids: set[int]) -> list[str]:
    listing = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True).stdout
    return sorted({line.split()[3] for line in listing.splitlines()
                   if any(f"pid={pid}," in line for pid in pids)})


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="atrc_2n_", dir="/tmp"))
    token = work / "token"
    token.write_text(secrets.token_hex(32))
    token.chmod(0o600)
    os.environ.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(token),
                      RAY_TMPDIR=str(work),  # Ray's address file too, not /tmp/ray
                      ATRC_NAS_RAY_CLUSTER=str(work))  # marks these nodes' processes
    (work / "ray").mkdir()
    from ray.cluster_utils import Cluster

    from atrc_nas.platform.cluster import _ray_processes, end_processes
    from atrc_nas.platform.layout import ExperimentLayout
    from atrc_nas.platform.records import read_records

    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 2, "node_ip_address": "127.0.0.1", "include_dashboard": True,
        "dashboard_host": "127.0.0.1", "temp_dir": str(work / "ray"),
        "object_store_memory": 500 * 1024 * 1024})
    try:
        cluster.add_node(num_cpus=2, node_ip_address="127.0.0.1",
                         object_store_memory=500 * 1024 * 1024)
        cluster.wait_for_nodes()
        seen = listeners({p.pid for p in _ray_processes(str(work))})
        print("listeners of the two nodes:", ", ".join(seen))
        started = time.time()
        done = subprocess.run([sys.executable, "-m", "atrc_nas.launch",
                               str(experiment(work, cluster.address))],
                              capture_output=True, text=True)
        print(done.stdout[-2500:])
        if done.returncode:
            print(done.stderr[-3000:])
            return done.returncode
        import ray
        from ray.util.state import list_actors, list_nodes

        ray.init(address=cluster.address, log_to_driver=False)
        nodes = {n.node_id: n.node_ip for n in list_nodes()}
        per_node: dict[str, int] = {}
        for actor in list_actors(detail=True, limit=1000):
            if "RayTrainWorker" in (actor.class_name or ""):
                per_node[actor.node_id] = per_node.get(actor.node_id, 0) + 1
        (run,) = read_records(ExperimentLayout(work / "runs" / "two_nodes"), "train")
        result = {"nodes": nodes, "ray_train_workers_per_node": per_node,
                  "listeners": seen, "run": run.key, "status": run.status,
                  "world_size": run.outputs.get("metrics", {}).get("world_size"),
                  "launch_seconds": time.time() - started}
        print(json.dumps(result, indent=2))
        OUT.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {OUT}")
        ray.shutdown()
        return 0
    finally:
        cluster.shutdown()
        end_processes(_ray_processes(str(work)))
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
