"""End-to-end single runs on tiny synthetic data: files written, resume, reproducibility."""

import json
from dataclasses import replace

import cv2
import pytest

from atrc_nas.config import ConfigError, from_dict
from atrc_nas.training.config import TrainConfig
from atrc_nas.training.run import train

TINY = {
    "seed": 3,
    "data": {
        "dataset": "synthetic_nyud", "batch_size": 4, "crop_size": [32, 40],
        "options": {"num_images": 20, "image_size": [32, 40]},
    },
    "model": {"network": "atrc", "backbone": "hrnet_tiny", "genotype": "published:nyud_hrnet18s"},
    "optim": {"max_steps": 4},
    "trainer": {"val_every_n_steps": 2, "log_every_n_steps": 1, "progress_bar": False},
}


def tiny_config(tmp_path, name: str, **optim) -> TrainConfig:
    cfg = from_dict(TrainConfig, {**TINY, "name": name, "output_dir": str(tmp_path)})
    return replace(cfg, optim=replace(cfg.optim, **optim)) if optim else cfg


def test_run_writes_metrics_checkpoints_and_edge_predictions(tmp_path):
    result = train(tiny_config(tmp_path, "atrc"))
    run = tmp_path / "atrc"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics == result.metrics
    assert metrics["steps"] == 4
    for key in ("test/semseg/miou", "test/depth/rmse", "test/normals/mean_angle",
                "test/edge/odsf", "val/semseg/miou"):
        assert key in {**metrics["test"], **metrics["val"]}
    assert metrics["params"] > 0 and metrics["gflops"] > 0
    assert metrics["input_size"] == [32, 40]  # the configured crop, not the preset's
    assert len(metrics["dataset_fingerprint"]) == 16
    assert (run / "checkpoints" / "last.ckpt").is_file()
    assert json.loads((run / "config.json").read_text())["model"]["network"] == "atrc"
    pngs = sorted((run / "edge_predictions").glob("*.png"))
    assert len(pngs) == 20
    assert cv2.imread(str(pngs[0]), cv2.IMREAD_UNCHANGED).shape == (32, 40)


def test_resume_continues_and_refuses_to_overwrite(tmp_path):
    train(tiny_config(tmp_path, "r", max_steps=2))
    with pytest.raises(ConfigError, match="--resume"):
        train(tiny_config(tmp_path, "r", max_steps=2))
    resumed = train(tiny_config(tmp_path, "r", max_steps=4), resume=True)
    assert resumed.metrics["steps"] == 4


def test_same_seed_same_numbers(tmp_path):
    first = train(tiny_config(tmp_path, "a")).metrics["test"]
    second = train(tiny_config(tmp_path, "b")).metrics["test"]
    assert first == second


def test_cli_reports_config_errors_with_file_and_key(tmp_path, capsys):
    from atrc_nas.train import main

    bad = tmp_path / "bad.yaml"
    bad.write_text("model:\n  netwrk: atrc\n")
    assert main([str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml: model.netwrk: unknown key" in err and "network" in err


def test_cli_trains_and_prints_the_run(tmp_path, capsys):
    from atrc_nas.train import main

    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(json.dumps({**TINY, "name": "cli", "output_dir": str(tmp_path)}))
    overrides = ["model.network=multi_task", "model.genotype=null", "optim.max_steps=2"]
    assert main([str(cfg), *overrides]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["run_dir"] == str(tmp_path / "cli")
    assert "test/semseg/miou" in printed["test"]
