"""The reproduce experiments (experiments/reproduce/): each plans against real-format
dataset folders (the tests' NYUD and PASCAL fixtures), and one trains end to end on one,
a few steps on CPU, on the session's loopback cluster."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
from fixtures import build_nyud, build_pascal

from atrc_nas.launch import main
from atrc_nas.platform.layout import ExperimentLayout

REPO = Path(__file__).resolve().parents[2]
REPRODUCE = sorted((REPO / "experiments" / "reproduce").glob("*_hrnet*.yaml"))
NETWORKS = 7  # the published genotype, multi-task, single-task, four fixed-context


def _data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    build_nyud(tmp_path / "nyud")
    build_pascal(tmp_path / "pascal")
    monkeypatch.setenv("ATRC_NAS_NYUD", str(tmp_path / "nyud"))
    monkeypatch.setenv("ATRC_NAS_PASCAL", str(tmp_path / "pascal"))
    monkeypatch.setenv("ATRC_NAS_WEIGHTS", str(tmp_path))
    for weights in ("hrnetv2_w18_small-b5a04e21.pth", "hrnetv2_w48-d2186c55.pth"):
        (tmp_path / weights).write_bytes(b"")  # planning checks that the file is there


@pytest.mark.parametrize("path", REPRODUCE, ids=[p.stem for p in REPRODUCE])
def test_reproduce_experiments_plan_on_real_format_data(path, tmp_path, monkeypatch, capsys):
    _data(tmp_path, monkeypatch)
    assert main([str(path), f"output_dir={tmp_path / 'runs'}", "--dry-run",
                 "ray.num_cpus=32", "ray.num_gpus=4"]) == 0
    out = capsys.readouterr().out
    assert "stage search" not in out
    runs = re.findall(r"^  (\S+)-seed(\d): 40000 steps", out, flags=re.MULTILINE)
    tasks = 5 if "pascal" in path.stem else 4
    assert len({network for network, _ in runs}) == NETWORKS - 1 + tasks
    assert sorted({seed for _, seed in runs}) == ["0", "1", "2", "3", "4"]


def test_a_reproduce_experiment_trains_end_to_end_on_nyud_format_data(cluster, tmp_path):
    """On the way: its runs fail (unreadable backbone weights, found only when a worker
    builds the network), and ``--retry-failed`` trains them again once the file is fixed."""
    build_nyud(tmp_path / "nyud")
    weights = tmp_path / "backbone.pt"
    weights.write_bytes(b"not a state dict")
    overrides = [
        f"data.root={tmp_path / 'nyud'}", "model.backbone=hrnet_tiny",
        f"model.pretrained={weights}", "train.max_failures=0",
        "data.crop_size=[24, 32]", "data.batch_size=2", "data.num_workers=0",
        "train.seeds=[0]", "train.baselines=[multi_task]", "train.optim.max_steps=2",
        "train.trainer.accelerator=cpu", "train.trainer.val_every_n_steps=2",
        "train.resources={workers: 1, cpus_per_worker: 0.9, gpus_per_worker: 0}",
        f"ray.address={cluster.address}", f"output_dir={tmp_path / 'runs'}"]
    env = {**os.environ, "RAY_AUTH_MODE": "token",
           "RAY_AUTH_TOKEN_PATH": str(cluster.token_file)}
    layout = ExperimentLayout(tmp_path / "runs" / "reproduce_nyud_hrnet18s")

    def launch(*flags: str) -> dict[str, dict]:
        done = subprocess.run(
            [sys.executable, "-m", "atrc_nas.launch", "experiments/reproduce/nyud_hrnet18s.yaml",
             *overrides, *flags], cwd=REPO, capture_output=True, text=True, timeout=600,
            env=env)
        assert done.returncode == 0, done.stdout + done.stderr
        return {p.stem: json.loads(p.read_text())
                for p in layout.records_dir("train").glob("*.json")}

    failed = launch()
    assert len(failed) == 2 and all(r["status"] == "failed" for r in failed.values())
    assert all("backbone.pt" in r["error"] for r in failed.values())
    weights.write_bytes((REPO / "experiments" / "weights" / "hrnet_tiny_synthetic.pt")
                        .read_bytes())
    records = launch("--retry-failed")
    assert len(records) == 2 and all(r["status"] == "finished" for r in records.values())
    for record in records.values():
        assert record["error"] is None
        metrics = record["outputs"]["metrics"]
        assert metrics["val"] == {} and metrics["steps"] == 2  # whole train split, no val
        assert metrics["best_checkpoint"].endswith("step2.ckpt")  # the last one is tested
        assert metrics["dataset"] == "nyud"


def test_the_shipped_paper_references_load():
    from atrc_nas.leaderboard.references import reference_rows

    rows = reference_rows(REPO / "experiments" / "reproduce" / "paper_references.yaml")
    by_name = {row.network: row for row in rows}
    assert by_name["paper: ATRC"].metrics["semseg/miou"].mean == 46.33
    assert by_name["paper: multi_task"].group == ("nyud", ("semseg", "depth", "normals",
                                                           "edge"), "hrnet18s", (425, 560))
