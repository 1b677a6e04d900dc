"""One search trial on a Ray worker: ``run_search`` for one (sample, seed, budget), reporting
to Tune after every validation with the search's own checkpoint.

What each report holds: ``objective`` (the derived argmax network's validation loss, or a
task's primary validation metric, as the experiment says), ``head_gflops`` and
``meets_budget`` of the derived genotype, ``genotype_hash`` and ``genotype`` (the published
JSON, as text: ``reports.encode``), ``step``, ``is_final`` (the run reached its last step:
a trial whose last report is not final was stopped early) and every ``val/...`` metric of
the derived network. Once the search report is written, the final report is kept in the
run folder (``reports.save_final``).

A restarted trial (a FailureConfig retry, or the sweep resumed after the launcher died)
resumes its search exactly from the checkpoint of its last report, or replays its final
report when it had finished. A trial whose loss diverged records why in its run folder and
fails again at once if retried: a diverged search is not worth repeating.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch

from atrc_nas.config import trusted_config
from atrc_nas.errors import DivergenceError
from atrc_nas.fileio import atomic_write_json
from atrc_nas.platform.reports import FINAL, encode, replay_final, save_final
from atrc_nas.run_dir import CHECKPOINT_DIR, CONFIG_FILE, LAST_CHECKPOINT, write_config
from atrc_nas.search.config import SearchConfig
from atrc_nas.search.module import SearchModule

FAILURE_FILE = "failure.json"
REPORTED_CHECKPOINT = "last.ckpt"


class TuneReporter(pl.Callback):
    """Reports each validation of a search to Ray Tune, with a checkpoint of that moment."""

    def __init__(self, objective_key: str, max_steps: int) -> None:
        self.objective_key = objective_key
        self.max_steps = max_steps
        self.last: dict[str, Any] | None = None  # the latest report

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or not isinstance(pl_module, SearchModule):
            return
        from ray import tune

        step = pl_module.global_step
        metrics = search_metrics(pl_module, trainer.callback_metrics, self.objective_key,
                                 step >= self.max_steps)
        self.last = metrics
        with tempfile.TemporaryDirectory(prefix="atrc_search_ckpt_") as folder:
            trainer.save_checkpoint(Path(folder) / REPORTED_CHECKPOINT)
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(folder))


def search_metrics(module: SearchModule, logged: dict[str, Any], objective_key: str,
                   is_final: bool) -> dict[str, Any]:
    """What a search reports after a validation (see the module docstring)."""
    step = module.global_step
    genotype = module.arch.genotype(step)
    val = {"val/loss": float(logged["val/loss"]),
           **{f"val/{k}": float(v) for k, v in module.val_metrics.items()}}
    metrics: dict[str, Any] = {
        "objective": val[objective_key], "step": step, FINAL: is_final,
        "genotype_hash": genotype.stable_hash(),
        **encode({"genotype": genotype.to_json_dict()}), **val,
        **module.arch.entropy_report(),
    }
    if module.cost_model is not None:
        head = module.cost_model.genotype_cost(genotype)
        metrics["head_gflops"] = head / 1e9
        if module.budget is not None:
            meets = module.budget.meets(head)
            metrics["meets_budget"] = meets
    return metrics


def _restore_reported_checkpoint(cfg: SearchConfig) -> bool:
    """Put the checkpoint of the trial's last report (if Tune restored one) in place as the
    search's last checkpoint, also in a folder this node has not seen; whether there is a
    run to resume."""
    from ray import tune

    run_dir = cfg.run_dir
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            target = run_dir / CHECKPOINT_DIR / LAST_CHECKPOINT
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(Path(folder) / REPORTED_CHECKPOINT, target)
        if not (run_dir / CONFIG_FILE).is_file():
            write_config(run_dir, cfg)
    return (run_dir / CONFIG_FILE).is_file()


def search_trial(config: dict[str, Any]) -> None:
    """The Tune function trainable of one search trial (``TrialSpec.tune_config()``)."""
    settings = config["settings"]
    torch.set_num_threads(max(1, int(settings["threads"])))
    cfg = trusted_config(SearchConfig, config["config"])
    run_dir = cfg.run_dir
    failure = run_dir / FAILURE_FILE
    if failure.is_file():
        raise DivergenceError(json.loads(failure.read_text())["error"])
    if replay_final(run_dir):
        return
    resume = _restore_reported_checkpoint(cfg)
    reporter = TuneReporter(settings["objective"]["key"], cfg.optim.max_steps)
    from atrc_nas.search.run import run_search

    try:
        run_search(cfg, resume=resume, callbacks=[reporter])
    except DivergenceError as err:
        atomic_write_json(failure, {"error": str(err)})
        raise
    if reporter.last is not None and reporter.last[FINAL]:
        save_final(run_dir, reporter.last)
