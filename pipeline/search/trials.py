"""What a search trains: a trial's short fit, reported to Optuna epoch by epoch, and the refit of a top configuration.

Keras lives here, not in `search`, so that a search checks its storage and tracking server (and fails in a second
on a wrong one) before TensorFlow loads.
"""
from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
import optuna
from optuna_integration import KerasPruningCallback

from pipeline.config import SearchBudget
from pipeline.search.space import REFERENCE, STARTING_POINTS, suggest
from pipeline.search.study import EXPERIMENT
from pipeline.tracking import liveness, runs
from pipeline.training import (
    Fitted,
    MetricsToRun,
    affordable_epochs,
    early_stopping_callbacks,
    fit,
    start_fresh,
    subset,
)

INPUT_SHAPE = (28, 28, 1)


class StopWhenPruned(KerasPruningCallback):
    """Optuna's Keras pruning callback on validation accuracy, holding back the TrialPruned it raises: training
    stops at the end of that epoch instead, so the fit returns what it trained, and the objective logs it and tags
    the run pruned before raising `pruned` (which ends the run KILLED)."""

    def __init__(self, trial: optuna.Trial):
        super().__init__(trial, "val_accuracy")
        self.pruned: optuna.TrialPruned | None = None
        self.pruned_at: int | None = None

    def on_epoch_end(self, epoch, logs=None):
        try:
            super().on_epoch_end(epoch, logs)
        except optuna.TrialPruned as pruned:
            self.pruned, self.pruned_at = pruned, epoch
            self.model.stop_training = True


def compile_classifier(family: str, config: dict, input_shape=INPUT_SHAPE, decay_steps: int | None = None):
    """Build and compile the classifier a config describes (its learning rate cosine-decayed over `decay_steps`)."""
    from models.classifiers import build_classifier, build_optimizer

    model = build_classifier(family, config, input_shape)
    model.compile(optimizer=build_optimizer(config, decay_steps), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def steps_for(images: int, batch_size: int, epochs: int) -> int:
    """Optimizer steps in `epochs` passes over `images`."""
    return -(-images // batch_size) * epochs


def trial_score(val_accuracies: list[float], best_epoch: bool) -> float:
    """What a trial reports to the study: the validation accuracy of its last epoch, or of its best one (as the
    refit's early stopping keeps its best weights; NaN epochs never count as best)."""
    if not best_epoch:
        return val_accuracies[-1]
    finite = [a for a in val_accuracies if np.isfinite(a)]
    return max(finite) if finite else val_accuracies[-1]


def objective_for(family: str, budget: SearchBudget, data, seed: int, parent_run_id: str | None = None,
                  tags: dict[str, str] | None = None):
    """The trial function: ask for a config, train it briefly on part of the data, return validation accuracy
    (after its last epoch, or its best epoch's if the budget says so).
    Its MLflow run nests under the active run, or under `parent_run_id` in a worker process, with `tags` besides
    its own (a Ray worker's node)."""
    x_train, y_train = subset(data.train.x, data.train.y, budget.train_fraction)
    x_val, y_val = subset(data.validation.x, data.validation.y, limit=budget.validation_limit)

    def objective(trial: optuna.Trial) -> float:
        # The process that runs the trial (host:pid:start): a search starting on this machine fails the trial at
        # once if that process is gone.
        trial.set_user_attr("worker", liveness.this_process())
        config = suggest(trial, family)
        reference = trial.number == 0 and config == REFERENCE[family]
        with runs.start_run(EXPERIMENT, run_name=f"{family}-trial-{trial.number}", nested=True,
                            parent_run_id=parent_run_id,
                            tags={"step": "search-trial", "family": family, "trial": trial.number,
                                  "study_name": trial.study.study_name, "reference": reference,
                                  "starting_point": config in STARTING_POINTS[family], **(tags or {})},
                            killed_by=(optuna.TrialPruned,)) as run:
            trial.set_user_attr("mlflow_run_id", run.info.run_id)
            runs.log_params({**config, "trial": trial.number, "epochs": budget.epochs,
                             "train_images": len(y_train)})
            start_fresh(seed + trial.number)
            model = compile_classifier(family, config)
            pruning = StopWhenPruned(trial)
            fitted = fit(model, x_train, y_train, validation=(x_val, y_val), epochs=budget.epochs,
                         batch_size=config["batch_size"], eager=budget.eager,
                         callbacks=[MetricsToRun(), pruning, keras.callbacks.TerminateOnNaN()])
            accuracies = fitted.history.get("val_accuracy", [0.0])
            accuracy = trial_score(accuracies, budget.score_best_epoch)
            runs.log_metrics({"final_val_accuracy": accuracies[-1], "trial_score": accuracy,
                              "wall_seconds": fitted.seconds,
                              "images_per_second": fitted.images_per_second,
                              "parameters": model.count_params(), "epochs_trained": fitted.epochs})
            trial.set_user_attr("epochs_trained", fitted.epochs)
            trial.set_user_attr("images_per_second", fitted.images_per_second)
            trial.set_user_attr("parameters", model.count_params())
            print(f"{family} trial {trial.number}: validation accuracy {accuracy:.4f} after {fitted.epochs} "
                  f"epoch(s), {fitted.seconds:.0f} s" + (" (pruned)" if pruning.pruned is not None else ""),
                  flush=True)
            if pruning.pruned is not None:
                runs.set_tags({"pruned": True, "pruned_at_epoch": pruning.pruned_at})
                raise pruning.pruned
            runs.set_tags({"pruned": False})
            return accuracy if np.isfinite(accuracy) else 0.0

    return objective


def config_of(trial: optuna.trial.FrozenTrial) -> dict:
    """The trial's configuration, as the builders take it."""
    return dict(trial.params)


@dataclass
class Trained:
    """A chosen configuration trained for good: the classifier, the model that reads for it (the classifier, or
    the classifier averaged over each image and its mirror), and how that reader did on validation and test."""
    classifier: keras.Model
    reader: keras.Model
    fitted: Fitted
    val_loss: float
    val_accuracy: float
    test_loss: float
    test_accuracy: float
    mirror_averaged: bool


def choose_reader(classifier: keras.Model, config: dict, input_shape, validation, eager: bool):
    """The classifier itself, or, if it trained on left-right flips and the average over each image and its mirror
    validates better, that average; chosen on validation only. Returns (reader, mirror_averaged, val_loss,
    val_accuracy) and logs both validation accuracies to the active run."""
    from models.mirror_average import mirror_averaged

    val_loss, val_accuracy = classifier.evaluate(*validation, verbose=0)
    if not config.get("augment", False):
        return classifier, False, val_loss, val_accuracy
    averaged = mirror_averaged(classifier, input_shape)
    averaged.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    averaged.run_eagerly = eager
    averaged_loss, averaged_accuracy = averaged.evaluate(*validation, verbose=0)
    runs.log_metrics({"val_accuracy_plain": val_accuracy, "val_accuracy_mirror_averaged": averaged_accuracy})
    if averaged_accuracy > val_accuracy:
        return averaged, True, averaged_loss, averaged_accuracy
    return classifier, False, val_loss, val_accuracy


def train_to_budget(family: str, config: dict, input_shape, train, validation, test, *, epochs: int, patience: int,
                    seconds: int | None, eager: bool, seed: int) -> Trained:
    """Train a chosen configuration for good: learning rate cosine-decayed over the planned epochs, early stopping
    on validation accuracy within `seconds`; choose how it reads on validation (`choose_reader`), then evaluate
    that reader on test, once."""
    start_fresh(seed)
    model = compile_classifier(family, config, input_shape,
                               decay_steps=steps_for(len(train[1]), config["batch_size"], epochs))
    fitted = fit(model, *train, validation=validation, epochs=epochs, batch_size=config["batch_size"], verbose=2,
                 eager=eager, callbacks=[MetricsToRun(), *early_stopping_callbacks(patience, "val_accuracy", seconds)])
    reader, averaged, val_loss, val_accuracy = choose_reader(model, config, input_shape, validation, eager)
    runs.set_tags({"mirror_averaged": averaged})
    test_loss, test_accuracy = reader.evaluate(*test, verbose=0)
    return Trained(model, reader, fitted, float(val_loss), float(val_accuracy), float(test_loss),
                   float(test_accuracy), averaged)


def refit(family: str, trial: optuna.trial.FrozenTrial, rank: int | None, budget: SearchBudget, data, seed: int,
          repeat: int = 0, starting_point: str = ""):
    """Retrain a top configuration on the training split with early stopping; evaluate it on the test split once.
    The budget may switch augmentation on for the long fit whatever the short trial chose. A `repeat` above 0
    is the same refit again with seed `seed`, to measure the spread over seeds. `starting_point` tags a refit of
    that starting point's trial; without a `rank` (not a top trial, refit only to compare) it also names the run."""
    config = config_of(trial)
    if budget.refit_augment is not None:
        config["augment"] = budget.refit_augment
    x_train, y_train = subset(data.train.x, data.train.y, budget.refit_fraction)
    x_val, y_val = subset(data.validation.x, data.validation.y, limit=budget.validation_limit)
    x_test, y_test = subset(data.test.x, data.test.y, limit=budget.test_limit)
    epochs = affordable_epochs(budget.refit_epochs, budget.refit_seconds, len(y_train),
                               trial.user_attrs.get("images_per_second"))
    label = f"rank-{rank}" if rank is not None else starting_point
    name = f"{family}-refit-{label}" + (f"-repeat-{repeat}" if repeat else "")
    ranked = {"rank": rank} if rank is not None else {}
    tags = {"step": "search-refit", "family": family, **ranked, "source_trial": trial.number, "repeat": repeat,
            "seed": seed} | ({"starting_point": starting_point} if starting_point else {})
    with runs.start_run(EXPERIMENT, run_name=name, nested=True, tags=tags):
        runs.log_params({**config, **ranked, "source_trial": trial.number, "max_epochs": epochs,
                         "patience": budget.patience, "train_images": len(y_train)})
        trained = train_to_budget(
            family, config, INPUT_SHAPE, (x_train, y_train), (x_val, y_val), (x_test, y_test), epochs=epochs,
            patience=budget.patience, seconds=budget.refit_seconds, eager=budget.eager, seed=seed)
        fitted, parameters = trained.fitted, trained.classifier.count_params()
        runs.log_metrics({"best_val_accuracy": trained.val_accuracy, "test_accuracy": trained.test_accuracy,
                          "test_loss": trained.test_loss, "wall_seconds": fitted.seconds,
                          "images_per_second": fitted.images_per_second, "epochs_trained": fitted.epochs,
                          "parameters": parameters})
        entry = {"rank": rank, "family": family, "trial": trial.number, "config": config,
                 "trial_val_accuracy": trial.value, "val_accuracy": trained.val_accuracy,
                 "test_accuracy": trained.test_accuracy, "mirror_averaged": trained.mirror_averaged,
                 "epochs": fitted.epochs, "wall_seconds": fitted.seconds, "parameters": int(parameters),
                 "images_per_second": fitted.images_per_second, "trial_run_id": trial.user_attrs.get("mlflow_run_id"),
                 "refit_run_id": runs.active_run_id()}
    return entry, trained.reader
