"""Tune search algorithms of the stages, and ASHA within each budget.

``PlannedTrials``: a stage's planned trials, suggested in order (the training stage).

``ReplicatedOptunaSearch``: Optuna proposes a configuration of the sampled hyperparameters;
every (seed, budget) replicate runs it as its own Tune trial and as its own Optuna trial
(the same values, enqueued), so the study sees each run with its seed and budget as user
attributes. A trial that ran to its last step is told COMPLETE with its objective (and its
head GFLOPs when multi-objective), one stopped early (by ASHA) PRUNED, one that failed FAIL.
The study lives in a journal file in the experiment folder, which ``optuna-dashboard``
opens.

``PerBudgetASHA``: one ASHA per budget, so trials compete only with trials of the same
budget (a tight budget's loss is not comparable with a loose one's).
"""

from __future__ import annotations

import contextlib
import math
import pickle
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler
from ray.tune.search import Searcher

from atrc_nas.platform.config import Distribution
from atrc_nas.platform.reports import FINAL
from atrc_nas.platform.stage import TrialSpec

if TYPE_CHECKING:
    from atrc_nas.platform.search_stage import SearchStage

OBJECTIVE = "objective"


class PlannedTrials(Searcher):
    """Suggests the planned trials in order, then says it is finished; its state (what is
    left) is saved with the Tune experiment, so a continued stage suggests the rest."""

    def __init__(self, specs: list[TrialSpec]) -> None:
        super().__init__()
        self._pending = list(specs)

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        if not self._pending:
            return Searcher.FINISHED
        return self._pending.pop(0).tune_config()

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None,
                          error: bool = False) -> None:
        return None

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as handle:
            pickle.dump(self.__dict__, handle)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as handle:
            self.__dict__.update(pickle.load(handle))


def optuna_distribution(dist: Distribution) -> optuna.distributions.BaseDistribution:
    if dist.distribution == "choice":
        return optuna.distributions.CategoricalDistribution(dist.choices or [])
    assert dist.low is not None and dist.high is not None
    if dist.distribution == "int":
        return optuna.distributions.IntDistribution(int(dist.low), int(dist.high))
    return optuna.distributions.FloatDistribution(dist.low, dist.high,
                                                  log=dist.distribution == "loguniform")


def open_study(journal: Path, name: str, directions: list[str],
               sampler_seed: int) -> optuna.Study:
    """The sweep's study in its journal file (created on first use, then reloaded)."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    journal.parent.mkdir(parents=True, exist_ok=True)
    storage = JournalStorage(JournalFileBackend(str(journal)))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.create_study(
        storage=storage, study_name=name, directions=directions, load_if_exists=True,
        sampler=optuna.samplers.TPESampler(seed=sampler_seed),
    )


class ReplicatedOptunaSearch(Searcher):
    def __init__(self, stage: SearchStage, specs: list[TrialSpec], journal: Path,
                 study_name: str) -> None:
        _, mode = stage.objective
        super().__init__(metric=OBJECTIVE, mode=mode)
        self.stage = stage
        self.journal = Path(journal)
        self.study_name = study_name
        self.search = stage.experiment.search
        self.multi_objective = self.search.multi_objective
        self._study: optuna.Study | None = None
        self._pending = list(specs)  # planned trials, in order (a sample's replicates together)
        self._params: dict[int, dict[str, Any]] = {}  # sample -> its values
        self._open: dict[str, int] = {}  # Tune trial id -> Optuna trial number

    @property
    def directions(self) -> list[str]:
        first = "minimize" if self.mode == "min" else "maximize"
        return [first, "minimize"] if self.multi_objective else [first]

    @property
    def study(self) -> optuna.Study:
        if self._study is None:
            self._study = open_study(self.journal, self.study_name, self.directions,
                                     self.search.sampler_seed)
        return self._study

    def _distributions(self) -> dict[str, optuna.distributions.BaseDistribution]:
        return {k: optuna_distribution(d) for k, d in self.search.sample.items()}

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        if not self._pending:
            return Searcher.FINISHED
        planned = self._pending.pop(0)
        sample = planned.provenance["sample"]
        if sample in self._params:
            self.study.enqueue_trial(self._params[sample])
        elif sample < len(self.search.points):
            self.study.enqueue_trial(self.search.points[sample])
        trial = self.study.ask(self._distributions())
        self._params.setdefault(sample, dict(trial.params))
        spec = self.stage.sampled(planned, self._params[sample], trial.number)
        for name, value in (("key", spec.key), ("seed", spec.provenance["seed"]),
                            ("sample", sample), ("budget", spec.provenance["budget"]),
                            ("tune_trial_id", trial_id)):
            trial.set_user_attr(name, value)
        self._open[trial_id] = trial.number
        return spec.tune_config()

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None,
                          error: bool = False) -> None:
        number = self._open.pop(trial_id, None)
        if number is None:
            return
        state, values = optuna_outcome(result, error, self.multi_objective)
        self.study.tell(number, values, state=state, skip_if_finished=True)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_study"] = None
        return state

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as handle:
            pickle.dump(self.__getstate__(), handle)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as handle:
            self.__dict__.update(pickle.load(handle))


def optuna_outcome(result: dict[str, Any] | None, error: bool, multi_objective: bool
                   ) -> tuple[optuna.trial.TrialState, list[float] | None]:
    """How a finished Tune trial reaches the study: COMPLETE with its values when it ran to
    its last step, PRUNED when it was stopped before, FAIL when it failed (or reported a
    value Optuna cannot hold)."""
    state = optuna.trial.TrialState
    if error or not result or OBJECTIVE not in result:
        return state.FAIL, None
    if not result.get(FINAL):
        return state.PRUNED, None
    values = [result[OBJECTIVE]]
    if multi_objective:
        values.append(result.get("head_gflops"))
    if any(v is None or not math.isfinite(float(v)) for v in values):
        return state.FAIL, None
    return state.COMPLETE, [float(v) for v in values]


class PerBudgetASHA(FIFOScheduler):
    """ASHA over validation periods (``training_iteration``), one instance per budget."""

    def __init__(self, mode: str, max_t: int, grace_period: int, reduction_factor: int) -> None:
        super().__init__()
        self._metric, self._mode = OBJECTIVE, mode
        self._settings = {"time_attr": "training_iteration", "metric": OBJECTIVE, "mode": mode,
                          "max_t": max_t, "grace_period": min(grace_period, max_t),
                          "reduction_factor": reduction_factor, "brackets": 1,
                          # a trial that reaches max_t ends by itself: stopping it there would
                          # cut off its last validation's files (report, checkpoint)
                          "stop_last_trials": False}
        self._by_budget: dict[str, ASHAScheduler] = {}

    def _asha(self, trial: Any) -> ASHAScheduler:
        budget = trial.config["provenance"]["budget"]
        if budget not in self._by_budget:
            self._by_budget[budget] = ASHAScheduler(**self._settings)
        return self._by_budget[budget]

    def set_search_properties(self, metric: str | None, mode: str | None, **spec: Any) -> bool:
        return True

    def on_trial_add(self, tune_controller: Any, trial: Any) -> None:
        self._asha(trial).on_trial_add(tune_controller, trial)

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict) -> str:
        return self._asha(trial).on_trial_result(tune_controller, trial, result)

    def on_trial_complete(self, tune_controller: Any, trial: Any, result: dict) -> None:
        self._asha(trial).on_trial_complete(tune_controller, trial, result)

    def on_trial_remove(self, tune_controller: Any, trial: Any) -> None:
        with contextlib.suppress(KeyError):  # already forgotten when it completed
            self._asha(trial).on_trial_remove(tune_controller, trial)

    def debug_string(self) -> str:
        return "; ".join(f"{b}: {a.debug_string()}" for b, a in self._by_budget.items())
