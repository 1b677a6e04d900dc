"""End-to-end single runs on tiny synthetic data: files written, resume, reproducibility."""

import json
import math

import cv2
import lightning.pytorch as pl
import pytest
import torch

from atrc_nas.config import ConfigError, parse_config
from atrc_nas.errors import DivergenceError
from atrc_nas.run_dir import trained_steps
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


def tiny_config(tmp_path, name: str, trainer=None, **optim) -> TrainConfig:
    data = {**TINY, "name": name, "output_dir": str(tmp_path),
            "optim": {**TINY["optim"], **optim},
            "trainer": {**TINY["trainer"], **(trainer or {})}}
    return parse_config(TrainConfig, data)


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


def _same_results(resumed: dict, uninterrupted: dict) -> None:
    """Every key of metrics.json but the run's name, checkpoint path and wall times."""
    for key in {*resumed, *uninterrupted} - {"name", "best_checkpoint", "wall_time_s",
                                            "timings"}:
        assert resumed[key] == uninterrupted[key], key
    assert resumed["val"] and resumed["test"]
    assert resumed["best_checkpoint"].endswith(uninterrupted["best_checkpoint"].split("/")[-1])


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    return train(tiny_config(tmp_path_factory.mktemp("full"), "u")).metrics


def test_resume_equals_uninterrupted_and_refuses_to_overwrite(tmp_path, uninterrupted):
    assert train(tiny_config(tmp_path, "u"), callbacks=[StopAt(2)]).metrics["steps"] == 2
    with pytest.raises(ConfigError, match="--resume"):
        train(tiny_config(tmp_path, "u"))
    resumed = train(tiny_config(tmp_path, "u"), resume=True).metrics
    _same_results(resumed, uninterrupted)
    assert json.loads((tmp_path / "u" / "metrics.json").read_text()) == resumed
    assert sorted(p.name for p in (tmp_path / "u" / "logs").iterdir()) == [
        "version_0", "version_1"]  # the first run's logs are kept
    # each start logs the steps it trained: the resumed one from its checkpoint's step on
    assert trained_steps(tmp_path / "u") == [[0, 1], [2, 3]]


class FailInTest(pl.Callback):
    """Dies at the start of the final test, as a run killed there would."""

    def on_test_start(self, trainer, pl_module) -> None:
        raise RuntimeError("killed during the final test")


def test_resume_of_a_finished_or_test_killed_run_keeps_every_metric(tmp_path, uninterrupted):
    with pytest.raises(RuntimeError, match="final test"):
        train(tiny_config(tmp_path, "u"), callbacks=[FailInTest()])
    assert not (tmp_path / "u" / "metrics.json").exists()
    _same_results(train(tiny_config(tmp_path, "u"), resume=True).metrics, uninterrupted)
    again = train(tiny_config(tmp_path, "u"), resume=True).metrics  # already finished
    _same_results(again, uninterrupted)


def test_resume_refuses_result_changes_and_accepts_display_changes(tmp_path):
    train(tiny_config(tmp_path, "r"), callbacks=[StopAt(2)])
    changed = tiny_config(tmp_path, "r", lr=0.5)
    with pytest.raises(ConfigError, match=r"optim.lr: None -> 0.5"):
        train(changed, resume=True)
    shown = tiny_config(tmp_path, "r", trainer={"progress_bar": True, "log_every_n_steps": 2})
    assert train(shown, resume=True).metrics["steps"] == 4
    saved = json.loads((tmp_path / "r" / "config.json").read_text())
    assert saved["trainer"]["log_every_n_steps"] == 2


def test_resume_needs_a_run_and_results_are_never_overwritten(tmp_path):
    with pytest.raises(ConfigError, match="nothing to resume"):
        train(tiny_config(tmp_path, "none"), resume=True)
    (tmp_path / "kept").mkdir()
    (tmp_path / "kept" / "metrics.json").write_text("{}")
    with pytest.raises(ConfigError, match=r"already holds a run \(metrics.json\)"):
        train(tiny_config(tmp_path, "kept"))
    assert (tmp_path / "kept" / "metrics.json").read_text() == "{}"


def test_truncated_last_checkpoint_resumes_from_the_newest_intact_one(tmp_path, caplog,
                                                                        uninterrupted):
    train(tiny_config(tmp_path, "t"), callbacks=[StopAt(2)])
    folder = tmp_path / "t" / "checkpoints"
    last = folder / "last.ckpt"
    intact = [p for p in folder.glob("step*.ckpt")]
    assert intact
    last.write_bytes(last.read_bytes()[:1000])
    with caplog.at_level("WARNING"):
        resumed = train(tiny_config(tmp_path, "t"), resume=True).metrics
    assert "truncated or corrupt" in caplog.text and str(intact[0]) in caplog.text
    _same_results(resumed, uninterrupted)
    for path in folder.glob("*.ckpt"):
        path.write_bytes(b"")
    with pytest.raises(ConfigError, match="every checkpoint is truncated or corrupt"):
        train(tiny_config(tmp_path, "t"), resume=True)


class PoisonAt(pl.Callback):
    """Turns a weight infinite before training step ``step``, as a diverging run would."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            with torch.no_grad():
                next(pl_module.network.parameters()).fill_(math.inf)


def test_divergence_stops_the_run_and_writes_no_metrics(tmp_path):
    with pytest.raises(DivergenceError, match=r"at step 3: loss=nan; non-finite terms: "
                                              r"semseg/final=nan"):
        train(tiny_config(tmp_path, "nan"), callbacks=[PoisonAt(3)])
    assert not (tmp_path / "nan" / "metrics.json").exists()


def test_cli_exits_non_zero_on_divergence(tmp_path, capsys):
    from atrc_nas.train import main

    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(json.dumps({**TINY, "name": "lr", "output_dir": str(tmp_path)}))
    assert main([str(cfg), "optim.lr=1e12"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: the loss diverged at step ") and "Traceback" not in err
    assert not (tmp_path / "lr" / "metrics.json").exists()


def test_run_length_must_be_whole_validation_periods(tmp_path):
    with pytest.raises(ConfigError, match=r"must be a multiple of trainer\.val_every_n_steps"):
        parse_config(TrainConfig, {**TINY, "optim": {"max_steps": 5}})


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


def test_checkpoint_selection_modes(tmp_path):
    from atrc_nas.training.run import checkpoint_monitor

    cfg = tiny_config(tmp_path, "x")
    assert checkpoint_monitor(cfg, cfg.data.spec()) == ("val/loss", "min")
    for task, want in (("depth", ("val/depth/rmse", "min")), ("edge", ("val/edge/odsf", "max"))):
        single = parse_config(TrainConfig, {**TINY, "data": {**TINY["data"], "tasks": [task]},
                                            "model": {"network": "single_task"},
                                            "trainer": {**TINY["trainer"],
                                                        "select_by": "primary"}})
        assert checkpoint_monitor(single, single.data.spec()) == want
    with pytest.raises(ConfigError, match="'primary' needs a single-task run"):
        parse_config(TrainConfig, {**TINY, "trainer": {**TINY["trainer"], "select_by": "primary"}})
    with pytest.raises(ConfigError, match=r"missing \['normals', 'edge'\]"):
        parse_config(TrainConfig, {**TINY, "trainer": {
            **TINY["trainer"], "select_by": "delta_m",
            "single_task_references": {"semseg": 10.0, "depth": 1.0}}})


def test_the_whole_train_split_and_the_last_checkpoint(tmp_path):
    """val_fraction 0 trains on every training image, runs no validation and tests the last
    checkpoint (the reference protocol)."""
    cfg = parse_config(TrainConfig, {
        **TINY, "name": "whole", "output_dir": str(tmp_path),
        "data": {**TINY["data"], "val_fraction": 0},
        "trainer": {**TINY["trainer"], "select_by": "last"}})
    from atrc_nas.training.run import build_datamodule, checkpoint_monitor

    assert checkpoint_monitor(cfg, cfg.data.spec()) == (None, "max")
    datamodule = build_datamodule(cfg.data, cfg.seed, cfg.trainer.val_every_n_steps)
    datamodule.setup("fit")
    assert len(datamodule.train_set) == 20 and len(datamodule.val_set) == 0
    metrics = train(cfg).metrics
    assert metrics["val"] == {} and metrics["steps"] == 4
    assert metrics["best_checkpoint"].endswith("step4.ckpt")
    assert "test/semseg/miou" in metrics["test"]


def test_delta_m_is_logged_and_drives_selection(tmp_path):
    from atrc_nas.metrics import delta_m, primary_metrics

    references = {"semseg": 20.0, "depth": 2.0, "normals": 40.0, "edge": 30.0}
    cfg = tiny_config(tmp_path, "dm", trainer={"select_by": "delta_m",
                                               "single_task_references": references})
    val = train(cfg).metrics["val"]
    by_task = primary_metrics({k.removeprefix("val/"): v for k, v in val.items()})
    assert val["val/delta_m"] == pytest.approx(delta_m(by_task, references), rel=1e-5)


@pytest.mark.parametrize(
    ("devices", "several"),
    [(1, False), (2, True), (-1, True), ("auto", False), ([0], False), ([0, 1], True)],
)
def test_batchnorm_is_synced_only_across_several_devices(devices, several):
    from atrc_nas.training.run import _several_devices

    assert _several_devices(devices) is several


def test_validation_metric_options_apply_to_validation_only():
    from atrc_nas.data.registry import get_dataset_spec
    from atrc_nas.models.registry import build_network
    from atrc_nas.training.config import OptimConfig
    from atrc_nas.training.module import MultiTaskModule

    spec = get_dataset_spec("synthetic_nyud").with_tasks(["depth", "edge"])
    network = build_network("multi_task", spec, backbone="hrnet_tiny")
    module = MultiTaskModule(network, spec, OptimConfig(),
                             val_metric_options={"edge": {"num_thresholds": 3}})
    assert len(module.val_evaluator.metrics["edge"].thresholds) == 3
    assert len(module.test_evaluator.metrics["edge"].thresholds) == 99
