"""One study, whatever joins it: a machine joining with another budget or other data is refused in one line, and the
refit waits until no trial of the study runs anywhere."""
from __future__ import annotations

import dataclasses
import os
import threading
import time

import mlflow
import optuna
import pytest

from pipeline.config import get_profile
from pipeline.datasets.preparation import Request, prepare
from pipeline.search.request import SearchRequest
from pipeline.search.space import suggest
from pipeline.search.study import open_study
from pipeline.steps import search as search_step

SMOKE, QUICK = get_profile("smoke").search["mlp"], get_profile("quick").search["mlp"]
ONE_TRIAL = dataclasses.replace(SMOKE, n_trials=1, train_fraction=1.0)


def parent_search(source, storage: str, study: str) -> str:
    """A finished search of one trial on the tiny data (seed 0); returns its parent run's id."""
    splits, _ = prepare(Request("fashion_mnist", str(source)))
    search_step.search(SearchRequest("mlp", ONE_TRIAL, storage=storage, study_name=study, data_dir=splits.folder,
                                     profile="smoke"))
    return runs_of("search")[0].info.run_id


def runs_of(step: str) -> list:
    """This test's runs of a step (the store fixture gives each test its own experiment)."""
    return mlflow.search_runs(experiment_names=[os.environ["MLFLOW_EXPERIMENT_NAME"]],
                              filter_string=f"tags.step = '{step}'", output_format="list")


# Each joiner: its options, and what its error line must name (the rest of the terms agree with the parent's).
JOINERS = {
    "another profile": (["--profile", "quick", "--seed", "0"],
                        [f"budget.epochs {QUICK.epochs} here, {SMOKE.epochs} in the parent run",
                         f"budget.train_fraction {QUICK.train_fraction} here, 1.0 in the parent run"]),
    "other data": (["--profile", "smoke", "--train-fraction", "1", "--seed", "1"], ["data digest "]),
}


def test_a_machine_joining_with_another_profile_or_other_data_stops_with_one_line_naming_the_difference(
        store, fashion_mnist_dir, tmp_path, capsys):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    parent = parent_search(fashion_mnist_dir, storage, "shared")
    for case, (options, named) in JOINERS.items():
        seed = int(options[options.index("--seed") + 1])
        data = prepare(Request("fashion_mnist", str(fashion_mnist_dir), seed=seed))[0].folder
        capsys.readouterr()
        with pytest.raises(SystemExit) as stopped:
            search_step.main(["--family", "mlp", "--study-name", "shared", "--storage", storage, "--data", str(data),
                              "--parent-run-id", parent, *options])
        assert stopped.value.code == 2, case
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1, (case, lines)
        assert lines[0].startswith(f"error: this machine's search differs from parent run {parent}'s: "), case
        differences = lines[0].partition("'s: ")[2].split("; ")
        assert all(any(d.startswith(text) for d in differences) for text in named), (case, lines[0])
        assert not any(d.startswith(("code version", "study", "family", "pruner")) for d in differences), case
    assert not runs_of("search-worker")
    assert len(optuna.load_study(study_name="shared", storage=storage).trials) == 1


# The test plays another machine's trial by hand (ask, then tell), which Optuna warns is not how heartbeats are used.
@pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed to be used with Study.optimize")
def test_the_refit_waits_until_no_trial_of_the_study_runs_anywhere_and_refits_the_late_one(
        store, fashion_mnist_dir, tmp_path, capsys):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    splits, _ = prepare(Request("fashion_mnist", str(fashion_mnist_dir)))
    study = open_study("late", storage, 0, optuna.pruners.NopPruner(), "mlp")
    elsewhere = study.ask()  # Geron's MLP, queued first, taken by a trial another machine is still running
    suggest(elsewhere, "mlp")
    request = SearchRequest("mlp", ONE_TRIAL, storage=storage, study_name="late", data_dir=splits.folder,
                            profile="smoke", heartbeat=1)
    found: list = []
    parent = threading.Thread(target=lambda: found.append(search_step.search(request)))
    parent.start()
    deadline, said = time.monotonic() + 120, ""
    while "waiting for 1 running trial(s)" not in said:
        assert parent.is_alive() and time.monotonic() < deadline, said
        time.sleep(0.5)
        said += capsys.readouterr().out
    assert not runs_of("search-refit")
    study.tell(elsewhere, 0.99)  # the other machine's trial ends: best of the study
    parent.join(timeout=180)
    entries, = found
    assert [e["trial"] for e in entries] == [elsewhere.number, 1]
    search_run, = runs_of("search")
    assert search_run.data.metrics["trials_total"] == 2
