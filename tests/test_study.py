"""The whole study end to end under the smoke profile, as `mlflow run .` runs it, then the MLflow UI in Chromium.

The study runs once per session in a temporary store (real Fashion-MNIST and CIFAR-10 where this machine has them,
tiny stand-ins otherwise); the tests below read what it left.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from pipeline import config
from pipeline.datasets.fashion_mnist import DEBIAN_DIR
from pipeline.tracking.runs import EXPERIMENT_KIND, MODEL_TRAINING, resolved_param, runs_page
from scripts.local_services import free_port, wait_for_http
from scripts.sample_data import make_cifar10, make_fashion_mnist

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
EXPERIMENT = "smoke-study"


def reports_in(folder: Path) -> dict[str, int]:
    """The report files in `folder` (report.md, report.html, report_files/*), with their modification times."""
    paths = [folder / "report.md", folder / "report.html", *sorted((folder / "report_files").glob("*"))]
    return {str(path): path.stat().st_mtime_ns for path in paths if path.exists()}


class Study:
    """A temporary store and data folder, and a way to run `mlflow run .` against them."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.uri = f"sqlite:///{folder / 'mlflow.db'}"
        fashion = os.environ.get("FASHION_MNIST_DIR") or (str(DEBIAN_DIR) if DEBIAN_DIR.is_dir() else
                                                          str(make_fashion_mnist(folder / "fashion-mnist")))
        cifar = os.environ.get("CIFAR10_PATH") or str(make_cifar10(folder / "cifar-10-batches-py"))
        self.env = {**os.environ, "MLFLOW_TRACKING_URI": self.uri, "PIPELINE_DATA_DIR": str(folder / "data"),
                    "FASHION_MNIST_DIR": fashion, "CIFAR10_PATH": cifar,
                    "PATH": f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}"}
        self.client = mlflow.MlflowClient(self.uri)
        self.experiment_id = self.client.create_experiment(EXPERIMENT,
                                                           artifact_location=(folder / "artifacts").as_uri())
        self.report = folder / "report" / "report.md"
        # Runs of `mlflow run .` in the background, by name: their threads, results and errors.
        self.threads: dict[str, threading.Thread] = {}
        self.results: dict[str, tuple] = {}
        self.errors: dict[str, BaseException] = {}

    def run(self, *parameters: str, report: Path | None = None) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "mlflow", "run", str(config.ROOT), "--env-manager", "local",
                   "--experiment-name", EXPERIMENT, "--run-name", "study-smoke", "-P", "profile=smoke",
                   "-P", f"report={report or self.report}"]
        for parameter in parameters:
            command += ["-P", parameter]
        done = subprocess.run(command, env=self.env, cwd=self.folder, capture_output=True, text=True, timeout=1500,
                              check=False)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        return done

    def run_step(self, entry_point: str, *parameters: str) -> subprocess.CompletedProcess:
        """One entry point on its own, as `mlflow run . -e <entry point>` into the study's experiment."""
        command = [sys.executable, "-m", "mlflow", "run", str(config.ROOT), "-e", entry_point, "--env-manager",
                   "local", "--experiment-name", EXPERIMENT]
        for parameter in parameters:
            command += ["-P", parameter]
        done = subprocess.run(command, env=self.env, cwd=self.folder, capture_output=True, text=True, timeout=900,
                              check=False)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        return done

    def children(self, parent_id: str) -> list:
        return self.runs(f"tags.mlflow.parentRunId = '{parent_id}'")

    def artifacts(self, run_id: str, path: str | None = None) -> set[str]:
        return {a.path for a in self.client.list_artifacts(run_id, path)}

    def runs(self, filter_string: str = "") -> list:
        return self.client.search_runs([self.experiment_id], filter_string, max_results=1000)

    def main_runs(self) -> list:
        return sorted(self.runs("tags.step = 'main'"), key=lambda r: r.info.start_time)

    def table(self, run_id: str, artifact: str) -> pd.DataFrame:
        """A CSV artifact of a run, read into a DataFrame."""
        with tempfile.TemporaryDirectory(dir=self.folder) as tmp:
            return pd.read_csv(self.client.download_artifacts(run_id, artifact, tmp))

    def steps(self, main_run) -> pd.DataFrame:
        return self.table(main_run.info.run_id, "steps.csv")

    def run_in_background(self, name: str, *parameters: str, report: Path | None = None) -> None:
        """Start `mlflow run .` in a thread; `result(name)` waits for (its output, its main run)."""
        def run():
            try:
                done = self.run(*parameters, report=report)
                self.results[name] = (done, self.client.get_run(self.run_id_in(done)))
            except BaseException as exc:  # noqa: BLE001 - handed to the test that waits for it
                self.errors[name] = exc

        self.threads[name] = threading.Thread(target=run, daemon=True)
        self.threads[name].start()

    @staticmethod
    def run_id_in(done: subprocess.CompletedProcess) -> str:
        """The main run's id, from the line that names it (`... (main run <id>)`)."""
        return re.search(r"\(main run (\w+)\)", done.stdout).group(1)

    def result(self, name: str) -> tuple:
        """(output, main run) of a background run, once it finished."""
        self.threads[name].join(timeout=1500)
        if name in self.errors:
            raise self.errors[name]
        return self.results[name]

    def wait_for_step(self, name: str, tag: str) -> None:
        """Until the first main run has tagged step `tag` done (or the run `name` ended, to fail on its result)."""
        deadline = time.time() + 1500
        while time.time() < deadline and self.threads[name].is_alive():
            runs = self.main_runs()
            if runs and tag in runs[0].data.tags:
                return
            time.sleep(2)


# The first study runs in the background: the browser test starts once its clock comparison (step 7 of 9) is
# done, and so does the study with one clock parameter changed, which reuses steps 1-7 and runs the champion
# and the report again, while the first study finishes its own. The other tests wait for the first study; the
# same study again (every step reused) starts when it finished.
@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Study:
    study = Study(tmp_path_factory.mktemp("study"))
    study.checkout_reports = reports_in(config.ROOT)  # the tests must leave the checkout's own report alone
    # The UI's server boots while the study runs; the browser test waits for it. Without MLflow's job runner,
    # which nothing here uses (scripts/services.sh says what it costs).
    study.server_port = free_port()
    study.server = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--backend-store-uri", study.uri,
                                     "--host", "127.0.0.1", "--port", str(study.server_port), "--workers", "1"],
                                    env={**study.env, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        study.run_in_background("first", report=study.report)
        study.wait_for_step("first", "step.7.clock_comparison")
        study.run_in_background("changed", "champion_epochs=2", report=study.folder / "report-changed" / "report.md")
        yield study
    finally:
        for thread in study.threads.values():
            thread.join(timeout=1500)
        study.server.terminate()
        study.server.wait(timeout=30)


@pytest.fixture(scope="module")
def finished(study) -> Study:
    """The study once its first run finished; the same study again starts then, in the background."""
    study.first = study.result("first")[0]
    # A figure of an earlier report where the next one goes: the new report must not keep it.
    (study.folder / "report-again" / "report_files").mkdir(parents=True)
    (study.folder / "report-again" / "report_files" / "stale.png").write_bytes(b"an earlier report's figure")
    study.run_in_background("again", report=study.folder / "report-again" / "report.md")
    return study


@pytest.fixture(scope="module")
def ui(study):
    """The `mlflow server` over the study's store, on a free loopback port, once it answers."""
    url = f"http://127.0.0.1:{study.server_port}"
    wait_for_http(f"{url}/health", study.server)
    return url


def open_compare_view(browser, url: str, experiment_id: str, parents: list[str], children: str):
    """In the experiment's runs table, expand the parent runs, tick the child runs, and press Compare; returns
    the page. A fresh context each time: the UI remembers expanded rows, and a second click would fold them."""
    page = browser.new_context(viewport={"width": 1600, "height": 1200}).new_page()
    page.goto(f"{url}/#/experiments/{experiment_id}/runs")
    for parent in parents:
        # The oldest run of that name (the table lists newest first): the first study, whose steps ran.
        link = page.get_by_role("link", name=parent, exact=True).last
        link.wait_for(timeout=60_000)
        link.locator("xpath=ancestor::div[@role='gridcell']").locator(
            "button[data-component-id*='runnamecellrenderer']").click()
    runs = page.get_by_role("link", name=re.compile(children))
    runs.first.wait_for(timeout=30_000)
    for i in range(runs.count()):
        row = runs.nth(i).locator("xpath=ancestor::div[@role='row']").get_attribute("row-index")
        page.locator(f"[role=row][row-index='{row}'] input[type=checkbox]").first.check()
    page.get_by_role("button", name=re.compile("^Compare")).click()
    page.get_by_text(re.compile(r"Comparing \d+ Runs")).wait_for(timeout=60_000)
    return page


def open_experiment(browser, link: str):
    """The page a link to the experiment opens (the one `main` prints), once the runs table lists the study."""
    page = browser.new_context(viewport={"width": 1600, "height": 1000}).new_page()
    page.goto(link)
    page.get_by_role("link", name="study-smoke", exact=True).first.wait_for(timeout=60_000)
    return page


def text_of_compare_view(page) -> str:
    """All text of the compare view, its virtualized tables scrolled through so every row was rendered once."""
    seen = [page.inner_text("body")]
    for grid in page.locator(".ReactVirtualized__Grid").all():
        for _ in range(60):
            at_end = grid.evaluate("g => { const before = g.scrollTop; g.scrollTop += 200; "
                                   "return g.scrollTop === before; }")
            page.wait_for_timeout(50)
            seen.append(grid.inner_text())
            if at_end:
                break
    return "\n".join(seen)


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (.ci/run installs it)")
def test_the_mlflow_ui_compares_trial_runs_in_chromium(study, ui):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = open_compare_view(browser, ui, study.experiment_id, ["study-smoke", "search-mlp"], r"^mlp-trial-\d+$")
        assert "compare-runs" in page.url
        if page.get_by_label("Close").count():
            page.get_by_label("Close").first.click()  # the assistant panel, to see the whole table
        body = text_of_compare_view(page)
        assert "Comparing 3 Runs" in body
        for name in ("Parameters", "Metrics", "learning_rate", "optimizer", "val_accuracy", "final_val_accuracy"):
            assert name in body, name
        shot = study.folder / "mlflow-ui-compare-trials.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000

        page = open_compare_view(browser, ui, study.experiment_id, ["study-smoke", "clock-comparison"],
                                 r"^clock-(classification|regression|multihead|periodic)$")
        body = text_of_compare_view(page)
        assert "Comparing 4 Runs" in body
        for name in ("representation", "val_cse", "test_cse_mean", "test_hour_error_share"):
            assert name in body, name
        page.screenshot(path=str(study.folder / "mlflow-ui-compare-clocks.png"), full_page=True)

        page = open_experiment(browser, runs_page(study.experiment_id, ui))
        assert "/runs" in page.url and "/overview" not in page.url, page.url
        body = page.inner_text("body")
        assert "Run Name" in body and "study-smoke" in body and "Observability" not in body
        page.screenshot(path=str(study.folder / "mlflow-ui-study-runs.png"))
        browser.close()
    assert study.client.get_experiment(study.experiment_id).tags[EXPERIMENT_KIND] == MODEL_TRAINING
    print(f"screenshots in {study.folder}")


@pytest.mark.usefixtures("finished")
def test_the_study_finishes_with_each_step_a_run_nested_under_main(study):
    main = study.main_runs()[0]
    assert main.info.status == "FINISHED"
    steps = study.steps(main)
    assert list(steps["entry_point"]) == ["preprocess"] * 3 + ["search", "search", "transfer", "clock_compare",
                                                               "clock", "report"]
    assert not steps["reused"].any()
    for run_id in steps["run_id"]:
        step = study.client.get_run(run_id)
        assert step.info.status == "FINISHED" and step.data.tags["mlflow.parentRunId"] == main.info.run_id
    assert "step 9/9: report" in study.first.stdout and "study finished" in study.first.stdout


@pytest.mark.usefixtures("finished")
@pytest.mark.parametrize("family", ["mlp", "cnn"])
def test_a_search_logs_trials_plots_top_configs_and_one_model(study, family):
    search = study.runs(f"tags.step = 'search' and tags.family = '{family}'")[-1]
    children = study.children(search.info.run_id)
    trials = sorted((c for c in children if c.data.tags["step"] == "search-trial"),
                    key=lambda r: int(r.data.tags["trial"]))
    refits = [c for c in children if c.data.tags["step"] == "search-refit"]
    assert len(trials) == 3 and len(refits) == 3
    reference = trials[0]
    assert reference.data.tags["reference"] == "True"
    assert reference.data.params["units_1" if family == "mlp" else "first_kernel"] == ("300" if family == "mlp" else "7")
    starts = 1 if family == "mlp" else 2  # the CNN study also starts from the modernised reference
    assert [t.data.tags["starting_point"] for t in trials] == ["True"] * starts + ["False"] * (3 - starts)
    for trial in trials:
        assert trial.info.status in ("FINISHED", "KILLED")
        assert {"loss", "accuracy", "val_loss", "val_accuracy", "final_val_accuracy", "wall_seconds",
                "parameters"} <= set(trial.data.metrics)
        assert {"learning_rate", "optimizer", "initializer", "activation", "batch_size"} <= set(trial.data.params)
    assert {"trials.csv", "top_configs.json", "plots", "search_space.csv", "param_importances.json"} <= \
        study.artifacts(search.info.run_id)
    assert study.artifacts(search.info.run_id, "plots") == {
        f"plots/{n}.png" for n in ("optimization_history", "param_importances", "parallel_coordinate",
                                   "intermediate_values")}
    top = mlflow.artifacts.load_dict(f"{search.info.artifact_uri}/top_configs.json")
    assert [e["rank"] for e in top] == [1, 2, 3]
    assert all({"val_accuracy", "test_accuracy", "config", "refit_run_id"} <= set(e) for e in top)
    assert "best_test_accuracy" in search.data.metrics
    # The study's best model is logged once, with a signature; the trials log none.
    logged = study.client.search_logged_models([study.experiment_id])
    assert [m.source_run_id for m in logged].count(search.info.run_id) == 1
    assert not {t.info.run_id for t in trials} & {m.source_run_id for m in logged}


@pytest.mark.usefixtures("finished")
def test_the_transfer_retrains_each_familys_top_configs_on_cifar10(study):
    transfer = study.runs("tags.step = 'transfer'")[0]
    assert {"comparison.csv", "comparison.md", "accuracy_by_dataset.png", "cifar10_learning_curves.png"} <= \
        study.artifacts(transfer.info.run_id)
    table = study.table(transfer.info.run_id, "comparison.csv")
    assert sorted(table["family"]) == ["cnn"] * 3 + ["mlp"] * 3
    assert set(table.groupby("family")["cifar10_rank"].apply(frozenset)) == {frozenset({1, 2, 3})}
    for model in study.children(transfer.info.run_id):
        source = study.client.get_run(model.data.tags["source_search_run_id"])
        assert source.data.tags["step"] == "search" and model.data.tags["family"] == source.data.tags["family"]
        assert "fashion_mnist_test_accuracy" in model.data.tags and "test_accuracy" in model.data.metrics


@pytest.mark.usefixtures("finished")
def test_the_clock_comparison_trains_and_logs_each_head_type(study):
    compare = study.runs("tags.step = 'clock_compare'")[0]
    assert {"comparison.csv", "comparison.md", "comparison.png"} <= study.artifacts(compare.info.run_id)
    table = study.table(compare.info.run_id, "comparison.csv")
    assert set(table["representation"]) == {"classification-24", "regression-circular", "multihead-periodic",
                                            "periodic-both-consistent", "periodic-both-independent (same network)",
                                            "polar"}
    assert table["test_cse_mean"].between(0, 360).all() and table["val_cse_mean"].is_monotonic_increasing
    children = study.children(compare.info.run_id)
    # First the shared backbone, pretrained on the dial and the hands; every representation starts from it.
    backbone = [child for child in children if child.data.tags.get("step") == "clock_backbone"]
    assert len(backbone) == 1 and backbone[0].data.tags["model_uri"] == compare.data.tags["backbone_model_uri"]
    # The backbone is a model of its own, registered from that run.
    name, version = compare.data.tags["backbone_model_uri"].removeprefix("models:/").split("/")
    assert name == "clock-backbone"
    assert study.client.get_model_version(name, version).run_id == backbone[0].info.run_id
    assert {"dial_loss", "hands_loss", "val_dial_loss", "val_hands_loss"} <= set(backbone[0].data.metrics)
    children = [child for child in children if child.info.run_id != backbone[0].info.run_id]
    assert len(children) == 5
    for child in children:
        own_network = child.data.tags["representation"] == "polar"
        # The polar reader is a network of its own: no backbone, and labels only even on rendered clocks.
        assert child.data.params["backbone"] == ("none" if own_network else compare.data.tags["backbone_model_uri"])
        assert child.info.status == "FINISHED"
        assert {"test_cse_mean", "test_cse_median", "test_cse_p90", "test_cse_max", "test_within_1", "test_within_5",
                "test_within_10", "test_hour_error_share", "val_cse", "cse", "loss"} <= set(child.data.metrics)
        assert len(study.client.get_metric_history(child.info.run_id, "val_cse")) == 1  # one per epoch
        assert {"learning_curves.png", "cse_histogram.png", "cse_against_time.png", "hour_confusion.png",
                "worst_24.png"} <= study.artifacts(child.info.run_id)
        if own_network:
            assert child.data.params["dial_supervision"] == "false" and "val_dial_loss" not in child.data.metrics
            continue
        assert child.data.params["backbone.widths"] == "(8, 16, 32)"  # one backbone for the whole comparison
        # Rendered clocks: the network learns where the dial's 12 points beside the time.
        assert child.data.params["dial_supervision"] == "true" and "val_dial_loss" in child.data.metrics


@pytest.mark.usefixtures("finished")
def test_the_report_numbers_match_the_runs(study):
    text = study.report.read_text()
    assert study.report.with_suffix(".html").is_file()
    assert "''" not in text, "a parameter left empty on the command line shows as typed, not as the step used it"
    for match in re.finditer(r"model selected on validation: \*\*([\d.]+)\*\* \(run `(\w+)`\)", text):
        assert float(match.group(1)) == round(study.client.get_run(match.group(2)).data.metrics["best_test_accuracy"],
                                              4)
    # Each family's starting points beside the selected configuration: smoke refits every trial, so the
    # reference's figures are a top refit's; the gain row says by how much the selection beat it.
    for match in re.finditer(r"### (MLP|CNN) \(search run `(\w+)`\)", text):
        metrics = study.client.get_run(match.group(2)).data.metrics
        assert (f"| starting point: reference | {metrics['starting_point.reference.val_accuracy']:.4f} | "
                f"{metrics['starting_point.reference.test_accuracy']:.4f} | "
                f"{100 * metrics['search_gain.reference']:+.2f} points |") in re.sub(" +", " ", text)
    champion_id = re.search(r"## The champion clock reader \(run `(\w+)`\)", text).group(1)
    champion_run = study.client.get_run(champion_id)
    champion = champion_run.data.metrics
    assert f"mean CSE {champion['test_cse_mean']:.2f} min" in text
    # The reading was chosen on validation: four quarter turns, with the single reading beside it, or once.
    if champion_run.data.params["quarter_turns"] == "true":
        assert f"read once: mean CSE {champion['single_view.test_cse_mean']:.2f} min" in text
    else:
        assert "each image read once." in text
    for run_id in set(re.findall(r"`([0-9a-f]{32})`", text)):
        assert study.client.get_run(run_id).info.status == "FINISHED"
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert images and all((study.report.parent / image).is_file() for image in images)
    main = study.main_runs()[0]
    assert {"report.md", "report.html"} <= {a.path for a in study.client.list_artifacts(main.info.run_id)}


@pytest.mark.usefixtures("finished")
def test_the_champion_is_registered_from_the_best_representation(study):
    champion = study.client.get_model_version_by_alias("clock-reader", "champion")
    run = study.client.get_run(champion.run_id)
    compare = study.runs("tags.step = 'clock_compare'")[0]
    assert run.data.tags["representation"] == compare.data.tags["best_representation"]
    # `mlflow run` logs an empty parameter as typed (''); the step logs what it used as `backbone.resolved`.
    assert resolved_param(run.data.params, "backbone") == (compare.data.tags["best_backbone_model_uri"] or "none")


# The reruns ran in the background while the tests above read the first study; these wait for them.
@pytest.mark.usefixtures("finished")
def test_a_second_run_reuses_every_step(study):
    again, main = study.result("again")
    assert study.steps(main)["reused"].all()
    assert again.stdout.count("reused finished run") == 9


@pytest.mark.usefixtures("finished")
def test_changing_a_clock_parameter_reruns_only_that_step_and_what_follows(study):
    _, main = study.result("changed")
    steps = study.steps(main)
    assert list(steps["reused"]) == [True] * 7 + [False, False]
    champion = study.client.get_run(steps["run_id"][7])
    assert champion.data.params["budget.epochs"] == "2"


def figures_shown(report: Path) -> set[str]:
    """The figure files a report.md points to, in its report_files/."""
    return set(re.findall(r"!\[[^\]]*\]\(report_files/([^)]+)\)", report.read_text()))


@pytest.mark.usefixtures("finished")
def test_the_study_replaces_an_earlier_reports_figures(study):
    study.result("again")
    report = study.folder / "report-again" / "report.md"
    assert figures_shown(report) and {p.name for p in (report.parent / "report_files").iterdir()} == \
        figures_shown(report)


@pytest.mark.usefixtures("finished")
def test_the_report_step_replaces_an_earlier_reports_figures(study):
    steps = study.steps(study.main_runs()[0]).set_index("entry_point")["run_id"]
    report = study.folder / "report-alone" / "report.md"
    (report.parent / "report_files").mkdir(parents=True)
    (report.parent / "report_files" / "stale.png").write_bytes(b"an earlier report's figure")
    study.run_step("report", f"out={report}", f"search_run_id={','.join(steps['search'])}",
                   f"transfer_run_id={steps['transfer']}", f"compare_run_id={steps['clock_compare']}",
                   f"champion_run_id={steps['clock']}")
    assert figures_shown(report) and {p.name for p in (report.parent / "report_files").iterdir()} == \
        figures_shown(report)
    assert report.with_suffix(".html").is_file()


@pytest.mark.usefixtures("finished")
def test_the_study_writes_nothing_into_the_checkout(study):
    for name in ("again", "changed"):
        study.result(name)
    assert reports_in(config.ROOT) == study.checkout_reports, "a run wrote a report into the project's folder"
