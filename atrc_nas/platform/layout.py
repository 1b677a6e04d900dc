"""The experiment folder ``<output_dir>/<name>/``: every file and folder name in it.

One object names them all, for the launcher, its stages and the leaderboard alike (no Ray,
no torch: the leaderboard reads experiment folders with it)::

    experiment.json              the validated experiment (a rerun must match it)
    provenance.json              config hash, git commit (and dirty), package versions
    .launch.lock                 one launcher at a time
    .ray/auth_token              the local cluster's token; .ray/processes.json its PIDs
    <stage>/<key>/               each trial's run folder (search/..., train/...)
    <stage>_trials/<key>.json    each trial's record (status, provenance, last report)
    <stage>_summary.json         what a stage concluded (train: Delta_m and references)
    genotypes/<hash>/<key>.json  the genotype each search trial ended with
    selection.json               the genotypes the training stage trains, with reasons
    trivial.json                 the trivial predictor's test metrics (training-split constants)
    optuna_study.log             the search's Optuna study (journal)
    leaderboard.<format>         md, csv, json, html
    tune/<stage>/                Ray Tune's experiment of each stage (default storage)
    tune/train_runs/<key>/       Ray Train's run of each training trial
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ExperimentLayout:
    root: Path

    EXPERIMENT = "experiment.json"
    PROVENANCE = "provenance.json"
    LOCK = ".launch.lock"
    RAY_STATE = ".ray"
    RAY_TOKEN = "auth_token"
    RAY_PROCESSES = "processes.json"
    GENOTYPES = "genotypes"
    SELECTION = "selection.json"
    TRIVIAL = "trivial.json"
    STUDY = "optuna_study.log"
    LEADERBOARD = "leaderboard"
    TUNE = "tune"
    TRAIN_RUNS = "train_runs"  # Ray Train's storage of the training stage's runs

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @classmethod
    def holds_experiment(cls, folder: str | Path) -> bool:
        return (Path(folder) / cls.EXPERIMENT).is_file()

    @property
    def experiment_file(self) -> Path:
        return self.root / self.EXPERIMENT

    @property
    def provenance_file(self) -> Path:
        return self.root / self.PROVENANCE

    @property
    def lock_file(self) -> Path:
        return self.root / self.LOCK

    @property
    def ray_state_dir(self) -> Path:
        return self.root / self.RAY_STATE

    @property
    def ray_token_file(self) -> Path:
        return self.ray_state_dir / self.RAY_TOKEN

    @property
    def ray_processes_file(self) -> Path:
        return self.ray_state_dir / self.RAY_PROCESSES

    @property
    def study_file(self) -> Path:
        return self.root / self.STUDY

    @property
    def selection_file(self) -> Path:
        return self.root / self.SELECTION

    @property
    def trivial_file(self) -> Path:
        return self.root / self.TRIVIAL

    @property
    def genotypes_dir(self) -> Path:
        return self.root / self.GENOTYPES

    def genotype_file(self, genotype_hash: str, key: str) -> Path:
        return self.genotypes_dir / genotype_hash / f"{key}.json"

    def stage_dir(self, stage: str) -> Path:
        """The run folders of a stage's trials."""
        return self.root / stage

    def run_dir(self, stage: str, key: str) -> Path:
        return self.stage_dir(stage) / key

    def records_dir(self, stage: str) -> Path:
        return self.root / f"{stage}_trials"

    def record_file(self, stage: str, key: str) -> Path:
        return self.records_dir(stage) / f"{key}.json"

    def summary_file(self, stage: str) -> Path:
        return self.root / f"{stage}_summary.json"

    def leaderboard_file(self, fmt: str) -> Path:
        return self.root / f"{self.LEADERBOARD}.{fmt}"

    def tune_storage(self, storage_path: str | None = None) -> str:
        """Where Ray Tune keeps the stages (absolute, or a URI such as ``s3://...``)."""
        if storage_path is None:
            return str(self.root / self.TUNE)
        return storage_path if "://" in storage_path else str(Path(storage_path).resolve())
