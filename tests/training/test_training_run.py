"""End-to-end single runs on tiny synthetic data: files written, resume, reproducibility."""

import json
from dataclasses import replace

import cv2
import lightning.pytorch as pl
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


class StopAt(pl.Callback):
    """Stops training after ``step`` steps, as an interruption would."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, *args) -> None:
        if trainer.global_step >= self.step:
            trainer.should_stop = True


def test_resume_equals_uninterrupted_and_refuses_to_overwrite(tmp_path):
    assert train(tiny_config(tmp_path, "r"), callbacks=[StopAt(2)]).metrics["steps"] == 2
    with pytest.raises(ConfigError, match="--resume"):
        train(tiny_config(tmp_path, "r"))
    resumed = train(tiny_config(tmp_path, "r"), resume=True).metrics
    uninterrupted = train(tiny_config(tmp_path, "u", max_steps=4)).metrics
    assert resumed["steps"] == 4
    assert resumed["test"] == uninterrupted["test"]
    assert sorted(p.name for p in (tmp_path / "r" / "logs").iterdir()) == [
        "version_0", "version_1"]  # the first run's logs are kept


def test_run_length_must_be_whole_validation_periods(tmp_path):
    with pytest.raises(ConfigError, match=r"must be a multiple of trainer\.val_every_n_steps"):
        from_dict(TrainConfig, {**TINY, "optim": {"max_steps": 5}})


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


def test_checkpoint_selection_modes():
    from atrc_nas.data.spec import get_dataset_spec
    from atrc_nas.training.run import checkpoint_monitor

    spec = get_dataset_spec("synthetic_nyud")
    cfg = from_dict(TrainConfig, TINY)
    assert checkpoint_monitor(cfg, spec) == ("val/loss", "min")
    cfg.trainer.select_by = "primary"
    assert checkpoint_monitor(cfg, spec.with_tasks(["depth"])) == ("val/depth/rmse", "min")
    assert checkpoint_monitor(cfg, spec.with_tasks(["edge"])) == ("val/edge/odsf", "max")
    with pytest.raises(ConfigError, match="single-task run"):
        checkpoint_monitor(cfg, spec)
    cfg.trainer.select_by = "delta_m"
    cfg.trainer.single_task_references = {"semseg": 10.0, "depth": 1.0}
    with pytest.raises(ConfigError, match=r"missing \['normals', 'edge'\]"):
        checkpoint_monitor(cfg, spec)


def test_delta_m_is_logged_and_drives_selection(tmp_path):
    from atrc_nas.metrics import delta_m, primary_metrics

    references = {"semseg": 20.0, "depth": 2.0, "normals": 40.0, "edge": 30.0}
    cfg = tiny_config(tmp_path, "dm")
    cfg.trainer.select_by = "delta_m"
    cfg.trainer.single_task_references = references
    val = train(cfg).metrics["val"]
    by_task = primary_metrics({k.removeprefix("val/"): v for k, v in val.items()})
    assert val["val/delta_m"] == pytest.approx(delta_m(by_task, references), rel=1e-5)


@pytest.mark.parametrize(
    ("devices", "several"),
    [(1, False), (2, True), (-1, True), ("auto", False), ("1", False), ("4", True),
     ("0,1", True), ("-1", True)],
)
def test_batchnorm_is_synced_only_across_several_devices(devices, several):
    from atrc_nas.training.run import _several_devices

    assert _several_devices(devices) is several


def test_model_and_metric_option_errors_are_config_errors(tmp_path):
    cfg = tiny_config(tmp_path, "bad")
    cfg.model.network = "atrcc"
    with pytest.raises(ConfigError, match="model: unknown network 'atrcc'"):
        train(cfg)
    cfg = tiny_config(tmp_path, "bad2")
    cfg.trainer.val_metric_options = {"sal": {"num_thresholds": 9}}
    with pytest.raises(ConfigError, match=r"val_metric_options.*'sal'"):
        train(cfg)


def test_validation_metric_options_apply_to_validation_only():
    from atrc_nas.data.spec import get_dataset_spec
    from atrc_nas.models.registry import build_network
    from atrc_nas.training.config import OptimConfig
    from atrc_nas.training.module import MultiTaskModule

    spec = get_dataset_spec("synthetic_nyud").with_tasks(["depth", "edge"])
    network = build_network("multi_task", spec, backbone="hrnet_tiny")
    module = MultiTaskModule(network, spec, OptimConfig(),
                             val_metric_options={"edge": {"num_thresholds": 3}})
    assert len(module.val_evaluator.metrics["edge"].thresholds) == 3
    assert len(module.test_evaluator.metrics["edge"].thresholds) == 99
