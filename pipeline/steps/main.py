"""Entry point `main`: the whole study as one parent run, each step its own entry-point run nested under it.

    mlflow run . -P profile=quick --env-manager local

preprocess (Fashion-MNIST, CIFAR-10, clocks) -> search (MLP, CNN) -> transfer -> clock comparison -> champion
clock reader, trained and registered -> report. A step that already finished with the same parameters, code and
upstream runs is reused, so a second run, or a run after an interruption, picks up where the last one stopped.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from pipeline import cli, config
from pipeline.config import PROFILES, get_profile
from pipeline.tracking import runs, workflow

EXPERIMENT = "study"
HEAD_FIELDS = ("head", "n_classes", "loss", "minute_head", "hands", "decoding")
STEP_COUNT = 9


@dataclass
class Progress:
    """Per-step lines with the elapsed time and what comes next, plus the table of steps for the run."""
    started: float = field(default_factory=time.perf_counter)
    rows: list[dict] = field(default_factory=list)

    def say(self, text: str) -> None:
        print(f"[{time.perf_counter() - self.started:7.1f} s] {text}", flush=True)

    def step(self, title: str, entry_point: str, parameters: dict, upstream: list[str] = (),
             force: bool = False, coming: str = "") -> str:
        """Run (or reuse) one step and report it; returns the step's run id."""
        number = len(self.rows) + 1
        self.say(f"step {number}/{STEP_COUNT}: {title}" + (f"  (then: {coming})" if coming else ""))
        began = time.perf_counter()
        run_id, reused = workflow.run_entry_point(entry_point, parameters, list(upstream), force,
                                                  run_name=title.replace(" ", "-"))
        seconds = time.perf_counter() - began
        self.say(f"step {number}/{STEP_COUNT}: {title}: " + (f"reused finished run {run_id}" if reused
                                                             else f"done in {seconds:.0f} s, run {run_id}"))
        self.rows.append({"step": title, "entry_point": entry_point, "run_id": run_id, "reused": reused,
                          "seconds": round(seconds, 1)})
        runs.set_tags({f"step.{number}.{title.replace(' ', '_')}": run_id})
        return run_id


def best_head(compare_run_id: str) -> dict:
    """The label representation that won the comparison, and the model URI of the comparison's pretrained backbone
    if it had one, as the clock step's parameters."""
    tags = runs.get_run(compare_run_id).data.tags
    fields = json.loads(tags["best_head"])
    # The winner's own backbone: the comparison's, or none for a network of its own (the polar reader).
    backbone = tags.get("best_backbone_model_uri", tags.get("backbone_model_uri", ""))
    return {**{name: str(fields[name]) for name in HEAD_FIELDS}, "backbone": backbone}


def reference_folder(folder: str, image_size: int) -> str:
    """The champion's reference folder as an absolute path (its step runs in the project folder), read once now
    so that a folder without labelled images stops the study before any step; "" for none."""
    if not folder:
        return ""
    from pipeline.datasets.reference_images import read_reference

    return str(read_reference(folder, image_size).folder.resolve())


def study(profile_name: str, seed: int, fashion_mnist_dir: str = "", cifar10_path: str = "",
          clock_source: str = "synthetic", champion_epochs: str = "", force: bool = False,
          report_path: str | Path = config.ROOT / "report.md", clock_reference: str = "") -> pd.DataFrame:
    """Run every step of the study under one parent run; returns the table of steps."""
    profile = get_profile(profile_name)
    clock_reference = reference_folder(clock_reference, profile.clock_size)
    progress = Progress()
    common = {"profile": profile.name, "seed": seed}
    with runs.start_run(EXPERIMENT, run_name=f"study-{profile.name}", tags={"step": "main"}) as run:
        # A study killed mid-way (kill -9, a machine lost) left its runs RUNNING: end them before reusing steps.
        for lost in runs.end_dead_runs("", [run.info.experiment_id]):
            progress.say(f"ended run {lost} FAILED: the process that ran it is dead")
        runs.log_params({**common, "fashion_mnist_dir": fashion_mnist_dir, "cifar10_path": cifar10_path,
                         "clock_source": clock_source, "champion_epochs": champion_epochs, "force": force,
                         "clock_reference": clock_reference or "none"})
        fashion = progress.step("preprocess fashion_mnist", "preprocess",
                                {"dataset": "fashion_mnist", "source": fashion_mnist_dir, "seed": seed}, force=force,
                                coming="preprocess cifar10")
        cifar = progress.step("preprocess cifar10", "preprocess",
                              {"dataset": "cifar10", "source": cifar10_path, "seed": seed}, force=force,
                              coming="preprocess clock")
        clocks = progress.step("preprocess clock", "preprocess",
                               {"dataset": "clock", "source": clock_source, "seed": seed, "size": profile.clock_size,
                                "count": profile.clock_count}, force=force, coming="search mlp")
        fashion_dir = runs.get_run(fashion).data.tags["processed_dir"]
        searches = [progress.step(f"search {family}", "search", {"family": family, **common, "data": fashion_dir},
                                  [fashion], force, coming=following)
                    for family, following in (("mlp", "search cnn"), ("cnn", "transfer"))]
        transfer = progress.step("transfer", "transfer",
                                 {"search_run_id": ",".join(searches), **common,
                                  "data": runs.get_run(cifar).data.tags["processed_dir"]},
                                 [*searches, cifar], force, coming="clock comparison")
        clock_data = {"source": clock_source, "image_size": profile.clock_size, "count": profile.clock_count}
        compare = progress.step("clock comparison", "clock_compare", {**common, **clock_data}, [clocks], force,
                                coming="champion clock reader")
        champion = progress.step("champion clock reader", "clock",
                                 {**best_head(compare), **common, **clock_data, "budget": "champion",
                                  "epochs": champion_epochs, "register": "true", "reference": clock_reference},
                                 [compare, clocks], force,
                                 coming="report")
        report = progress.step("report", "report",
                               {"search_run_id": ",".join(searches), "transfer_run_id": transfer,
                                "compare_run_id": compare, "champion_run_id": champion, "out": "none"},
                               [*searches, transfer, compare, champion], force)
        steps = pd.DataFrame(progress.rows)
        runs.log_table(steps, "steps.csv", markdown=True)
        # The report step only logged the report ("out": "none"); it is written out here, where it was asked for.
        written = workflow.copy_report(report, Path(report_path))
        runs.log_metrics({"steps_reused": int(steps["reused"].sum()),
                          "study_seconds": time.perf_counter() - progress.started})
    progress.say(f"study finished: {int(steps['reused'].sum())} of {len(steps)} steps reused; "
                 f"report at {written}")
    uri = runs.configure()
    progress.say(f"see every run with: mlflow ui --backend-store-uri {uri}  (main run {run.info.run_id})")
    progress.say(f"its runs there, in the UI's Model training view: {runs.runs_page(run.info.experiment_id, uri)}")
    return steps


def build_parser():
    p = cli.parser(__doc__.splitlines()[0])
    p.add_argument("--profile", default="quick", choices=sorted(PROFILES))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fashion-mnist-dir", default="", help="folder with the four idx .gz files (default: search)")
    p.add_argument("--cifar10-path", default="", help="cifar-10-batches-py/ or the .tar.gz (default: $CIFAR10_PATH)")
    p.add_argument("--clock-source", default="synthetic", help="'synthetic' or a course-format folder")
    p.add_argument("--champion-epochs", default="", help="epochs for the champion clock reader (default: profile's)")
    p.add_argument("--clock-reference", default="", help="a folder of genuine labelled clock images the champion "
                   "reads after training (images.npy and labels.npy, or files named HH-MM; default: none)")
    p.add_argument("--force", type=cli.boolean, default=False, help="re-run every step, reusing nothing")
    p.add_argument("--report", default=str(config.ROOT / "report.md"), help="where to write report.md (and .html)")
    return p


def main(argv=None) -> None:
    cli.main_with(build_parser, lambda a: study(a.profile, a.seed, a.fashion_mnist_dir, a.cifar10_path,
                                                a.clock_source, a.champion_epochs, a.force, a.report,
                                                a.clock_reference), argv)


if __name__ == "__main__":
    main()
