"""Short searches on the synthetic dataset (hrnet_tiny, 32x40): files, resume, CLI."""

import json

import lightning.pytorch as pl
import pytest
import torch

from atrc_nas.config import ConfigError, load_config, parse_config
from atrc_nas.data.registry import get_dataset_spec
from atrc_nas.models.genotype import resolve_genotype
from atrc_nas.models.registry import build_network
from atrc_nas.search.__main__ import main
from atrc_nas.search.callbacks import GENOTYPE_FILE, HISTORY_FILE, HISTORY_PLOT, read_history
from atrc_nas.search.config import SearchConfig
from atrc_nas.search.report import REPORT_FILE
from atrc_nas.search.run import build_search, run_search

STEPS, PERIOD = 4, 2


def _config(tmp_path, name: str, **extra) -> SearchConfig:
    data = {
        "name": name, "output_dir": str(tmp_path), "seed": 0, "space": "atrc",
        "data": {"dataset": "synthetic_nyud", "batch_size": 2, "val_fraction": 0.25,
                 "crop_size": [32, 40],
                 "options": {"num_images": 10, "image_size": [32, 40],
                             "local_structure": True}},
        "model": {"backbone": "hrnet_tiny"},
        "optim": {"max_steps": STEPS, "arch_lr": 0.05},
        "trainer": {"accelerator": "cpu", "val_every_n_steps": PERIOD,
                    "log_every_n_steps": 1, "progress_bar": False},
        **extra,
    }
    return parse_config(SearchConfig, data)


class GenotypeRecorder(pl.Callback):
    """Reads atrc_genotype.json after each validation (it runs after SearchArtifacts)."""

    def __init__(self, run_dir):
        self.path = run_dir / GENOTYPE_FILE
        self.steps = []

    def on_validation_end(self, trainer, pl_module):
        self.steps.append(json.loads(self.path.read_text())["step"])


class Interrupt(pl.Callback):
    def __init__(self, at: int, graceful: bool):
        self.at, self.graceful = at, graceful

    def on_train_batch_end(self, trainer, *args):
        if trainer.global_step == self.at:
            if not self.graceful:
                raise KeyboardInterrupt  # a killed run: no checkpoint after the last validation
            trainer.should_stop = True


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("search")
    recorder = GenotypeRecorder(tmp_path / "full")
    result = run_search(_config(tmp_path, "full"), callbacks=[recorder])
    return result, recorder


def _checkpoint(run_dir):
    return torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)


def test_short_search_writes_a_genotype_every_validation(uninterrupted):
    result, recorder = uninterrupted
    run_dir = result.run_dir
    assert recorder.steps == [2, 4]
    history = read_history(run_dir / HISTORY_FILE)
    assert [r["step"] for r in history] == [2, 4]
    probs = history[-1]["probs"]["semseg"]["depth"]
    assert list(probs) == ["none", "global", "local", "t_label", "s_label"]
    assert sum(probs.values()) == pytest.approx(1.0, abs=1e-5)
    assert "s_label" not in history[-1]["probs"]["depth"]["depth"]
    assert (run_dir / HISTORY_PLOT).stat().st_size > 0
    genotype = resolve_genotype(run_dir / GENOTYPE_FILE)
    assert genotype == result.genotype and genotype.step == STEPS
    assert set(json.loads((run_dir / GENOTYPE_FILE).read_text())) == {"data", "step"}
    report = json.loads((run_dir / REPORT_FILE).read_text())
    assert report["genotype_hash"] == genotype.stable_hash()
    assert report["meets_budget"] is None and report["budget_gflops"] is None
    assert 0 < report["head_gflops"] <= report["max_head_gflops"]
    assert report["head_gflops"] < report["network_gflops"]
    assert report["ops_full_total"] == STEPS * (12 * 4 + 4 * 3)
    spec = get_dataset_spec("synthetic_nyud")  # the training of fixed networks loads it
    network = build_network("atrc", spec, "hrnet_tiny", genotype=str(run_dir / GENOTYPE_FILE))
    assert network(torch.zeros(1, 3, 32, 40))["final"]["depth"].shape == (1, 1, 32, 40)


@pytest.mark.parametrize("graceful", [False, True], ids=["killed", "stopped"])
def test_resume_equals_uninterrupted(uninterrupted, tmp_path, graceful):
    full, _ = uninterrupted
    cfg = _config(tmp_path, "resumed")
    if graceful:
        run_search(cfg, callbacks=[Interrupt(3, graceful)])
    else:  # Lightning turns the interrupt into an exit after its shutdown
        with pytest.raises(SystemExit):
            run_search(cfg, callbacks=[Interrupt(3, graceful)])
    assert _checkpoint(tmp_path / "resumed")["global_step"] == (3 if graceful else 2)
    resumed = run_search(cfg, resume=True)
    assert resumed.genotype == full.genotype
    want, got = _checkpoint(full.run_dir), _checkpoint(resumed.run_dir)
    assert want["state_dict"].keys() == got["state_dict"].keys()
    for key, value in want["state_dict"].items():
        assert torch.equal(value, got["state_dict"][key]), key
    assert torch.equal(want["search"]["gumbel_rng"], got["search"]["gumbel_rng"])
    history = read_history(resumed.run_dir / HISTORY_FILE)
    if not graceful:  # a graceful stop also validated at step 3
        assert history == read_history(full.run_dir / HISTORY_FILE)


def test_existing_run_needs_resume(uninterrupted):
    result, _ = uninterrupted
    cfg = _config(result.run_dir.parent, "full")
    with pytest.raises(ConfigError, match="pass --resume"):
        run_search(cfg)


def test_resume_with_a_changed_space_is_a_config_error(uninterrupted, tmp_path):
    """The saved config names the space by file: a file edited in place is caught by the
    checkpoint's candidate table, as a config error."""
    space = tmp_path / "space.yaml"
    space.write_text("name: s\ncandidates: [none, global, t_label]\n")
    run_search(_config(tmp_path, "s", space=str(space)), callbacks=[Interrupt(2, True)])
    space.write_text("name: s\ncandidates: [none, global, s_label, t_label]\n")
    with pytest.raises(ConfigError, match="different search space: pair"):
        run_search(_config(tmp_path, "s", space=str(space)), resume=True)
    with pytest.raises(ConfigError, match=r"optim.arch_lr: 0.05 -> 0.1"):
        run_search(_config(tmp_path, "s", space=str(space), optim={"max_steps": STEPS,
                                                                    "arch_lr": 0.1}),
                   resume=True)


def test_cli_reports_config_errors(tmp_path, capsys):
    assert main(["experiments/search_synthetic.yaml", "budget.fraction=2"]) == 2
    assert ("override 'budget.fraction=2': budget.fraction: must be less than or equal to 1, "
            "got 2") in capsys.readouterr().err
    assert main(["experiments/search_synthetic.yaml", "optim.max_steps=7"]) == 2
    assert "must be a multiple of trainer.val_every_n_steps" in capsys.readouterr().err
    bad_space = tmp_path / "space.yaml"
    bad_space.write_text("name: x\ncandidates: [none, convolution]\n")
    assert main(["experiments/search_synthetic.yaml", f"space={bad_space}",
                 f"output_dir={tmp_path}"]) == 2
    assert f"{bad_space}: candidates[1]: unknown context op" in capsys.readouterr().err


def test_experiment_config_loads():
    cfg = load_config("experiments/search_synthetic.yaml", SearchConfig)
    assert cfg.model.backbone == "hrnet_tiny" and cfg.data.options["local_structure"]


def test_validation_metric_options_reach_the_search_module(tmp_path):
    cfg = _config(tmp_path, "options", trainer={
        "accelerator": "cpu", "val_every_n_steps": PERIOD, "progress_bar": False,
        "val_metric_options": {"edge": {"num_thresholds": 7}}})
    evaluator = build_search(cfg).module.val_evaluator
    assert len(evaluator.metrics["edge"].thresholds) == 7
    assert len(build_search(_config(tmp_path, "default")).module.val_evaluator
               .metrics["edge"].thresholds) == 99
