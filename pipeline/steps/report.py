"""Entry point `report`: report.md (and report.html) built from the tracking store alone.

    python -m pipeline.steps.report [--out report.md] [--search-run-id A,B] [--transfer-run-id T] ...

Every number comes from a run, with the run id beside it; the figures are the ones the steps logged. Runs
not named default to the latest finished run of each step.
"""
from __future__ import annotations

import datetime
import io
import shutil
import tempfile
from pathlib import Path

import pandas as pd

from pipeline import cli, config
from pipeline.errors import InputError
from pipeline.tracking import runs
from pipeline.tracking.workflow import REPORT_FIGURES as FIGURES
from pipeline.tracking.workflow import place_report

EXPERIMENT = "report"
# `--out none` keeps the report in its run only: `main` copies it out itself, to where it was asked to.
LOG_ONLY = "none"
CONFIG_SHOWN = ("optimizer", "learning_rate", "activation", "initializer", "batch_norm", "dropout", "regularizer",
                "augment", "batch_size", "n_layers", "n_blocks", "filters", "convs_per_block", "head")
REFERENCE_ROWS = 48  # genuine images listed in the report; the run's per-image table has them all


class Report:
    """Markdown lines plus the figures they point to, gathered from runs."""

    def __init__(self, folder: Path):
        self.lines: list[str] = []
        self.folder = folder
        (folder / FIGURES).mkdir(parents=True, exist_ok=True)

    def add(self, *lines: str) -> None:
        self.lines.extend(lines)

    def table(self, frame: pd.DataFrame, floats: str = ".4f") -> None:
        self.add(frame.to_markdown(index=False, floatfmt=floats), "")

    def figure(self, run_id: str, artifact: str, caption: str) -> None:
        """Copy a logged figure next to the report and show it with its run."""
        name = f"{run_id[:8]}_{artifact.replace('/', '_')}"
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copy(runs.download_artifact(run_id, artifact, tmp), self.folder / FIGURES / name)
        self.add(f"![{caption}]({FIGURES}/{name})", f"*{caption} (run `{run_id}`)*", "")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def latest(step: str, condition: str = "") -> str:
    """The newest finished run of a step (meeting an extra filter condition, if given)."""
    found = runs.find_runs(f"tags.step = '{step}' and attributes.status = 'FINISHED'"
                           + (f" and {condition}" if condition else ""), max_results=1)
    if not found:
        raise InputError(None, f"no finished {step} run in the tracking store; run that step first")
    return found[0].info.run_id


def csv_artifact(run_id: str, artifact: str) -> pd.DataFrame:
    """A CSV a run logged, as a DataFrame."""
    import mlflow

    return pd.read_csv(io.StringIO(mlflow.artifacts.load_text(f"runs:/{run_id}/{artifact}")))


def task1_section(report: Report, search_ids: list[str]) -> None:
    """Search results against the reference networks, importances, and the top configurations."""
    report.add("## Task 1: hyperparameter search on Fashion-MNIST", "",
               "Trials are selected on the validation split (10% of the training set); only the refits of the top "
               "configurations meet the test split, once.", "")
    for run_id in search_ids:
        run = runs.get_run(run_id)
        family = run.data.tags["family"].upper()
        trials = csv_artifact(run_id, "trials.csv")
        done = trials[trials["state"] == "COMPLETE"]
        reference = trials[trials["number"] == 0].iloc[0]
        best = done.loc[done["value"].idxmax()]
        budget = {k.split(".", 1)[1]: v for k, v in run.data.params.items() if k.startswith("budget.")}
        report.add(f"### {family} (search run `{run_id}`)", "",
                   f"- Study `{run.data.params.get('study', '?')}`: {len(trials)} trials "
                   f"({(trials['state'] == 'PRUNED').sum()} pruned), {budget.get('epochs', '?')} epoch(s) per trial "
                   f"on {float(budget.get('train_fraction', 1)):.0%} of the training images.",
                   f"- Geron's reference network (trial 0): validation accuracy **{reference['value']:.4f}**; "
                   f"best trial (#{int(best['number'])}): **{best['value']:.4f}** "
                   f"({best['value'] - reference['value']:+.4f}) under the same trial budget.", "")
        top = pd.DataFrame(runs.load_json_artifact(run_id, "top_configs.json"))
        shown = pd.DataFrame({"rank": top["rank"], "trial": top["trial"],
                              "validation": top["val_accuracy"], "test": top["test_accuracy"],
                              "epochs": top["epochs"], "parameters": top["parameters"],
                              "configuration": [", ".join(f"{k}={c[k]:.3g}" if isinstance(c[k], float)
                                                          else f"{k}={c[k]}" for k in CONFIG_SHOWN if k in c)
                                                for c in top["config"]],
                              "refit run": [f"`{r}`" for r in top["refit_run_id"]]})
        share = float(budget.get("refit_fraction", 1))
        report.add(f"Top configurations, refit on {'the whole' if share == 1 else f'{share:.0%} of the'} training "
                   f"split for at most {budget.get('refit_epochs', '?')} epochs with early stopping on validation:", "")
        report.table(shown)
        report.add(f"Test accuracy of the model selected on validation: "
                   f"**{run.data.metrics.get('best_test_accuracy', float('nan')):.4f}** (run `{run_id}`)."
                   + over_seeds(run.data.metrics), "")
        gains = search_gain(run.data.metrics)
        if gains is not None:
            report.add("What the search adds: each starting point refit under the same refit budget and seed as the "
                       "selected configuration (search gain: the selected configuration's test accuracy minus "
                       "the starting point's, in percentage points):", "")
            report.table(gains)
        importances = runs.load_json_artifact(run_id, "param_importances.json")
        if importances:
            report.add("Importance of each hyperparameter for validation accuracy (Optuna's fANOVA):", "")
            report.table(pd.DataFrame(importances.items(), columns=["hyperparameter", "importance"]), ".3f")
        report.figure(run_id, "plots/optimization_history.png", f"{family}: optimization history")
        report.figure(run_id, "plots/param_importances.png", f"{family}: hyperparameter importances")


def search_gain(metrics: dict) -> pd.DataFrame | None:
    """The selected configuration beside each starting point's refit (Geron's reference, the modernised CNN), and
    the search gain over each; None when the search logged no starting-point refit."""
    names = sorted({key.split(".")[1] for key in metrics if key.startswith("starting_point.")},
                   key=lambda name: (name != "reference", name))
    if not names:
        return None
    rows = [{"configuration": "selected on validation", "validation": metrics.get("best_val_accuracy"),
             "test": metrics.get("best_test_accuracy"), "search gain": ""}]
    rows += [{"configuration": f"starting point: {name}", "validation": metrics[f"starting_point.{name}.val_accuracy"],
              "test": metrics[f"starting_point.{name}.test_accuracy"], "search gain": f"{100 * metrics[f'search_gain.{name}']:+.2f} points"}
             for name in names]
    return pd.DataFrame(rows)


def over_seeds(metrics: dict) -> str:
    """The selected configuration's test accuracy over its refits with other seeds, when it was refit so."""
    repeats = int(metrics.get("repeats", 1))
    if repeats < 2:
        return ""
    prefix = "selected_test_accuracy_seed_"
    seeds = ", ".join(f"{metrics[key]:.4f}" for key in sorted((k for k in metrics if k.startswith(prefix)),
                                                               key=lambda k: int(k[len(prefix):])))
    return (f" Refit with {repeats} seeds: mean **{metrics['selected_test_accuracy_mean']:.4f}** "
            f"± {metrics['selected_test_accuracy_sd']:.4f} (sd; each seed: {seeds}).")


def transfer_section(report: Report, transfer_id: str) -> None:
    """Fashion-MNIST against CIFAR-10, with the measured drop."""
    table = csv_artifact(transfer_id, "comparison.csv")
    report.add(f"## Transfer of the top configurations to CIFAR-10 (run `{transfer_id}`)", "",
               "Each configuration is rebuilt for 32x32x3 input and trained on CIFAR-10 (45,000 / 5,000 / 10,000).", "")
    report.table(table.assign(run_id=[f"`{r}`" for r in table["run_id"]])[
        ["family", "fashion_mnist_rank", "fashion_mnist_test_accuracy", "cifar10_val_accuracy", "cifar10_test_accuracy",
         "cifar10_rank",
         "drop", "epochs", "run_id"]])
    metrics = runs.get_run(transfer_id).data.metrics
    for family, group in table.groupby("family"):
        chosen = group[group["cifar10_rank"] == 1].iloc[0]  # the transfer's own validation ranking
        report.add(f"- {family.upper()}: CIFAR-10 test accuracy "
                   f"{metrics.get(f'{family}_cifar10_test_accuracy', chosen['cifar10_test_accuracy']):.4f} for the "
                   f"configuration that validates best there ({chosen['cifar10_val_accuracy']:.4f} validation); "
                   f"mean drop from Fashion-MNIST {group['drop'].mean():.4f}; the Fashion-MNIST ranking "
                   f"{'holds' if list(group['cifar10_rank']) == sorted(group['cifar10_rank']) else 'changes'} "
                   f"on CIFAR-10.")
    report.add("")
    report.figure(transfer_id, "accuracy_by_dataset.png", "Test accuracy on both data sets")
    report.figure(transfer_id, "cifar10_learning_curves.png", "CIFAR-10 validation accuracy per epoch")


def clock_section(report: Report, compare_id: str) -> None:
    """Every representation's common-sense error, and what the table says about the assignment's questions."""
    table = csv_artifact(compare_id, "comparison.csv")
    compare = runs.get_run(compare_id)
    size, epochs = (runs.resolved_param(compare.data.params, key) for key in ("image_size", "epochs"))
    report.add(f"## Tell the time: label representations (run `{compare_id}`)", "",
               f"Same backbone, data ({size} px) and budget ({epochs} epochs at most) for every representation; "
               "errors are common-sense errors in minutes. The representations are ranked, and the champion's chosen, "
               "by the validation split; the test split only reports."
               + (f" Every representation but the polar reader (a network of its own) started from one backbone "
                  f"pretrained on where the dial's 12 and the hands point (model "
                  f"`{compare.data.tags['backbone_model_uri']}`)."
                  if compare.data.tags.get("backbone_model_uri") else ""), "")
    shown = table.assign(run_id=[f"`{r}`" for r in table["run_id"]])[
        ["representation", "val_cse_mean", "test_cse_mean", "test_cse_median", "test_cse_p90", "test_within_5",
         "test_hour_error_share", "parameters", "train_seconds", "run_id"]]
    report.table(shown, ".3g")
    rows = table.set_index("representation")
    if {"classification-24", "classification-720"} <= set(rows.index):
        report.add(f"- 720 classes: mean CSE {rows.loc['classification-720', 'test_cse_mean']:.1f} min against "
                   f"{rows.loc['classification-24', 'test_cse_mean']:.1f} min for 24 classes (whose bins alone "
                   f"cost up to 15 min).")
    for label in ("regression-mae", "regression-circular"):
        if label in rows.index:
            run = runs.get_run(rows.loc[label, "run_id"])
            near = [run.data.metrics.get(f"test_cse_hour_{h:02d}") for h in (11, 0)]
            if None not in near:
                report.add(f"- {label}: mean CSE {sum(near) / 2:.1f} min for true times between 11:00 and 0:59, "
                           f"against {run.data.metrics['test_cse_mean']:.1f} min overall.")
    report.add("")
    report.figure(compare_id, "comparison.png", "Validation and test common-sense error by representation")


def champion_section(report: Report, champion_id: str) -> None:
    """The champion's error analysis, its worst cases, and its model card."""
    run = runs.get_run(champion_id)
    m, p, t = run.data.metrics, run.data.params, run.data.tags
    report.add(f"## The champion clock reader (run `{champion_id}`)", "",
               f"Representation **{t.get('representation')}**, registered as `clock-reader` version "
               f"{t.get('registered_version', '?')}: {t.get('champion_decision', 'not registered')}.", "")
    report.table(pd.DataFrame([{"metric": k, "value": m[k]} for k in (
        "test_cse_mean", "test_cse_median", "test_cse_p90", "test_cse_max", "test_within_1", "test_within_5",
        "test_within_10", "test_hour_error_share") if k in m]), ".4g")
    for artifact, caption in (("learning_curves.png", "Learning curves"), ("cse_histogram.png", "CSE histogram"),
                              ("cse_against_time.png", "CSE against the true time"),
                              ("hour_confusion.png", "Hours, true against predicted"),
                              ("worst_24.png", "The 24 worst test images")):
        report.figure(champion_id, artifact, caption)
    reference_section(report, champion_id, m, p)
    # `mlflow run` logs an empty parameter as typed (''); the step logs what it resolved it to beside it.
    backbone = runs.resolved_param(p, "backbone", "none")
    trained_on = t.get("training_data") or f"{p.get('source')} clock images ({p.get('train_images')} training images)"
    report.add("### Model card: `clock-reader`", "",
               f"- **Model**: {t.get('representation')} head on a residual CNN (stage widths "
               f"{p.get('backbone.widths')}), {int(m.get('parameters', 0)):,} parameters, "
               f"{runs.resolved_param(p, 'image_size')} px grey input.",
               f"- **Data**: {trained_on}; split {p.get('split')}, processed at `{p.get('processed_dir')}`; "
               f"test data digest `{t.get('test_data_digest', '?')[:16]}`.",
               f"- **Training budget**: at most {p.get('budget.epochs')} epochs, early stopping on validation CSE; "
               f"{int(m.get('epochs_trained', 0))} epochs, {m.get('train_seconds', 0) / 60:.1f} minutes on "
               f"this machine." + (" Trained beside a second output that learns where the dial's 12 points (the "
                                   "rendered rotation); the registered reader is the time head alone."
                                   if p.get("dial_supervision") == "true" else "")
               + (f" Started from the pretrained backbone `{backbone}`." if backbone not in ("none", "") else ""),
               f"- **Metrics** (test split): mean CSE {m.get('test_cse_mean', float('nan')):.2f} min, median "
               f"{m.get('test_cse_median', float('nan')):.1f} min, hour misread in "
               f"{m.get('test_hour_error_share', float('nan')):.2%} of images"
               + (f"; each image read at its four quarter turns and the readings averaged (read once: mean CSE "
                  f"{m.get('single_view.test_cse_mean', float('nan')):.2f} min)." if p.get("quarter_turns") != "false"
                  else "; each image read once."),
               selection_line(p, m),
               reference_line(p, m),
               "- **Use**: grey uint8 images (N, H, W) or (N, H, W, 1) of any size in, a table of hour, minute "
               "and time out:", "",
               "```python",
               "import mlflow",
               "reader = mlflow.pyfunc.load_model('models:/clock-reader@champion')",
               "reader.predict(images)  # DataFrame with columns hour, minute, time",
               "```", "",
               limits_line(p, m), "")


def reference_section(report: Report, run_id: str, metrics: dict, params: dict) -> None:
    """The genuine images the reader read after training, when its run was given a reference folder: each image's
    true and predicted time and CSE, and the contact sheet."""
    if "reference_cse_mean" not in metrics:
        return
    table = csv_artifact(run_id, "reference/per_image.csv")
    report.add("### Genuine images", "",
               f"After training, the logged reader read the {len(table)} labelled images of "
               f"`{runs.resolved_param(params, 'reference')}` as `predict` reads images (resized to its input size): "
               f"mean CSE **{metrics['reference_cse_mean']:.2f} min** (run `{run_id}`). They were never trained on, "
               f"nor used to choose weights, epochs or the champion.", "")
    shown = table.head(REFERENCE_ROWS)
    if len(shown) < len(table):
        report.add(f"The first {len(shown)} of {len(table)} images (the run's `reference/per_image.csv` has all):", "")
    report.table(shown, ".0f")
    report.figure(run_id, "reference/contact_sheet.png", "Genuine images, true and predicted times")


def reference_line(params: dict, metrics: dict) -> str:
    """The model card's figure on genuine images, or that none were read."""
    if "reference_cse_mean" not in metrics:
        return "- **Genuine images**: none read by this run (`-P reference=<folder>` reads a folder of them)."
    return (f"- **Genuine images** (read after training, never trained or chosen on): mean CSE "
            f"{metrics['reference_cse_mean']:.2f} min over {int(metrics['reference_images'])} images of "
            f"`{runs.resolved_param(params, 'reference')}`.")


def limits_line(params: dict, metrics: dict) -> str:
    """What the reader's figures do not cover: the data it was tested on, and real photographs unless read."""
    source = params.get("source")
    tested = ("rendered clocks that imitate the course's images" if source in (None, "", "synthetic")
              else "images of its training folder")
    genuine = ("readings of real photographs are not measured here" if "reference_cse_mean" not in metrics else
               f"real photographs are measured on {int(metrics['reference_images'])} genuine images only")
    return f"- **Limits**: trained and tested on {tested}; {genuine}."


def selection_line(params: dict, metrics: dict) -> str:
    """What the champion's own run chose on validation, or that it had no validation split to choose on."""
    if params.get("reading_chosen_on") != "validation":
        return ("- **Chosen on validation**: nothing in this run (no validation split): it reads at four quarter "
                "turns by default, and takes the registry alias only where there was no champion.")
    return (f"- **Chosen on validation**: the representation, the reading (quarter turns or once) and the registry "
            f"alias; validation mean CSE {metrics.get('val_cse_mean', float('nan')):.2f} min.")


def write_html(markdown_text: str, path: Path) -> None:
    """A standalone HTML rendering of the report."""
    import markdown

    body = markdown.markdown(markdown_text, extensions=["tables", "fenced_code"])
    path.write_text("<!doctype html><html><head><meta charset='utf-8'><title>Study report</title><style>"
                    "body{font-family:sans-serif;max-width:70em;margin:2em auto;padding:0 1em}"
                    "table{border-collapse:collapse;font-size:90%}td,th{border:1px solid #ccc;padding:2px 6px}"
                    "img{max-width:100%}code{background:#f4f4f4}</style></head><body>" + body + "</body></html>\n")


def build_report(out: Path | None, search_ids: list[str], transfer_id: str, compare_id: str,
                 champion_id: str) -> Path | None:
    """Log report.md, report.html and their figures to a run and, unless `out` is None, write them into out's
    folder (its report_files/ then holds this report's figures alone); returns `out`."""
    with runs.start_run(EXPERIMENT, run_name="report", tags={"step": "report"}):
        runs.log_params({"search_run_ids": ",".join(search_ids), "transfer_run_id": transfer_id,
                         "compare_run_id": compare_id, "champion_run_id": champion_id})
        with tempfile.TemporaryDirectory() as tmp:
            report = Report(Path(tmp))
            report.add("# Study report", "",
                       f"Built {datetime.datetime.now():%Y-%m-%d %H:%M} from the tracking store "
                       f"`{runs.configure()}`. Every number below comes from the MLflow run named beside it.", "")
            task1_section(report, search_ids)
            transfer_section(report, transfer_id)
            clock_section(report, compare_id)
            champion_section(report, champion_id)
            (Path(tmp) / "report.md").write_text(report.text())
            write_html(report.text(), Path(tmp) / "report.html")
            for name in ("report.md", "report.html"):
                runs.log_file(Path(tmp) / name)
            runs.log_file(Path(tmp) / FIGURES)
            if out is not None:
                place_report(Path(tmp), out)
    print(f"wrote {out} and {out.with_suffix('.html')}" if out else "logged the report to its run")
    return out


def build_parser():
    p = cli.parser(__doc__.splitlines()[0])
    p.add_argument("--out", default="", help="where to write report.md (default: report.md at the project root; "
                   f"'{LOG_ONLY}': only log it to the run)")
    p.add_argument("--search-run-id", default="", help="comma-separated search runs (default: latest mlp and cnn)")
    p.add_argument("--transfer-run-id", default="")
    p.add_argument("--compare-run-id", default="")
    p.add_argument("--champion-run-id", default="")
    return p


def run(args) -> Path | None:
    searches = [i for i in args.search_run_id.split(",") if i] or [
        latest("search", f"tags.family = '{family}'") for family in ("mlp", "cnn")]
    champion = args.champion_run_id or latest("clock", "tags.registered_version LIKE '%'")
    out = None if args.out == LOG_ONLY else Path(args.out or config.ROOT / "report.md").resolve()
    return build_report(out, searches, args.transfer_run_id or latest("transfer"),
                        args.compare_run_id or latest("clock_compare"), champion)


def main(argv=None) -> None:
    cli.main_with(build_parser, run, argv)


if __name__ == "__main__":
    main()
