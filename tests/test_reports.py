"""Plots and the HTML report: every PNG is drawn and valid, the confusion colours mean what
they say, and the report is one self-contained file that a real browser renders offline."""

from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import matplotlib.image
import pytest

import trainwise
from tests.helpers import small_config
from tests.serve_support import CHROMIUM, CHROMIUM_ARGS, NEEDS_CHROMIUM
from trainwise.reports.confusion import cell_colour, hex_colour, row_shares, text_colour
from trainwise.reports.curves import plot_curve
from trainwise.reports.optimizer_curves import epoch_end_steps, plot_grad_norm, plot_learning_rate
from trainwise.reports.plots import planned_plots, write_plots

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
FINDINGS = [
    {"kind": "overfitting", "severity": "warning", "title": "Over-fitting from epoch 3",
     "message": "val_loss rose while loss kept falling.", "epochs": [3, 5],
     "evidence": {"val_loss_min": 0.12, "gap": 0.05}, "advice": ["model.dropout: 0.1-0.3"]},
    {"kind": "good_fit", "severity": "info", "title": "Good fit <script>alert(1)</script>",
     "message": "Both curves settled <b>close</b> together.", "epochs": [], "evidence": {},
     "advice": []},
]


def _train(csv_path, runs_dir, plots=False, **kwargs) -> trainwise.Run:
    return trainwise.fit(small_config(csv_path, **kwargs), runs_dir=runs_dir, progress=False,
                         plots=plots)


def _assert_valid_png(path: Path) -> None:
    assert path.read_bytes()[:8] == PNG_SIGNATURE, f"{path.name} is not a PNG"
    height, width = matplotlib.image.imread(path).shape[:2]
    assert width > 100 and height > 100, f"{path.name} is {width}x{height}"


class _Links(HTMLParser):
    """Every tag's src and href, and the tags used."""

    def __init__(self):
        super().__init__()
        self.sources, self.hrefs, self.tags = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        attributes = dict(attrs)
        if "src" in attributes:
            self.sources.append((tag, attributes["src"]))
        if "href" in attributes:
            self.hrefs.append(attributes["href"])


def _links(html: str) -> _Links:
    parser = _Links()
    parser.feed(html)
    return parser


# ------------------------------------------------------------------------------ plots
def test_regression_run_draws_every_plot(regression_csv, runs_dir):
    run = _train(regression_csv, runs_dir, plots=True)
    names = {path.name for path in run.path.joinpath("plots").glob("*.png")}
    assert {"loss.png", "mae.png", "grad_norm.png", "predicted_vs_actual.png",
            "residuals.png"} <= names
    assert "lr.png" not in names  # a constant rate: a flat line would say nothing
    assert not any(name.startswith("confusion_") for name in names)
    for path in run.path.joinpath("plots").glob("*.png"):
        _assert_valid_png(path)


def test_classification_run_draws_a_confusion_matrix_per_split(classification_csv, runs_dir):
    run = _train(classification_csv, runs_dir, plots=True, target="label", task="classification")
    names = {path.name for path in run.path.joinpath("plots").glob("*.png")}
    assert {"loss.png", "accuracy.png", "grad_norm.png", "confusion_val.png",
            "confusion_test.png"} <= names
    assert "predicted_vs_actual.png" not in names
    for path in run.path.joinpath("plots").glob("*.png"):
        _assert_valid_png(path)


def test_write_plots_redraws_from_the_run_directory_alone(regression_csv, runs_dir):
    run = _train(regression_csv, runs_dir)
    shutil.rmtree(run.path / "plots")
    written = write_plots(run.path)
    assert written == planned_plots(run.path)
    assert all(path.is_file() for path in written)


def test_write_plots_of_a_run_without_history_or_metrics_writes_nothing(regression_csv, runs_dir):
    run = _train(regression_csv, runs_dir)
    for name in ("history.json", "metrics.json", "predictions.csv"):
        (run.path / name).unlink()
    assert write_plots(run.path) == []


def test_learning_rate_steps_come_from_the_batch_history():
    history = [{"epoch": 1, "lr": 0.1}, {"epoch": 2, "lr": 0.01}]
    batches = [{"step": str(step), "epoch": str(1 if step <= 3 else 2), "loss": "0.5"}
               for step in range(1, 6)]  # 3 batches, then 2 (a shorter last epoch)
    assert epoch_end_steps(history, batches, global_step=5) == ([3, 5], "optimizer step")
    assert epoch_end_steps(history, None, global_step=8) == ([4, 8], "optimizer step")
    assert epoch_end_steps(history, None, None) == ([1, 2], "epoch")


def test_plots_survive_wide_ranges_and_missing_values(tmp_path):
    # What a diverging run leaves: NaN and infinite values, a gap, a rate cut 10,000-fold.
    nan, inf = float("nan"), float("inf")
    history = [{"epoch": epoch, "loss": loss, "val_loss": 10.0 ** -epoch, "lr": 10.0 ** -epoch,
                "grad_norm": norm}
               for epoch, loss, norm in zip(range(1, 6), [1.0, 0.1, nan, None, 0.001],
                                            [2.0, 0.0, None, inf, nan])]
    paths = [plot_curve(history, "loss", tmp_path / "loss.png", 2, "loss"),
             plot_learning_rate(history, [10, 20, 30, 40, 50], "optimizer step",
                                tmp_path / "lr.png", 2),
             plot_grad_norm(history, tmp_path / "grad_norm.png", None)]
    for path in paths:
        _assert_valid_png(path)


# ------------------------------------------------------------------------------ colours
@pytest.mark.parametrize("share", [0.0, 0.3, 0.95, 1.0])
def test_confusion_diagonal_cells_are_green(share):
    red, green, blue = cell_colour(share, correct=True)
    assert green > red + 0.1 and green > blue + 0.1


@pytest.mark.parametrize("share", [0.02, 0.3, 1.0])
def test_confusion_error_cells_are_reddish(share):
    red, green, blue = cell_colour(share, correct=False)
    assert red > green + 0.05 and red > blue + 0.05


def test_confusion_errors_redden_with_their_row_share():
    assert cell_colour(0.0, correct=False) == (1.0, 1.0, 1.0)  # no errors: white
    greens = [cell_colour(share, correct=False)[1] for share in (0.0, 0.05, 0.3, 1.0)]
    assert greens == sorted(greens, reverse=True) and len(set(greens)) == 4
    assert row_shares([[3, 1], [0, 0]]) == [[0.75, 0.25], [0.0, 0.0]]


def test_confusion_colours_for_css():
    assert hex_colour((1.0, 0.5, 0.0)) == "#ff8000"
    assert text_colour(cell_colour(1.0, correct=True)) == "#ffffff"  # white on full green
    assert text_colour(cell_colour(0.0, correct=False)) == "#1a1a1a"  # dark on white


# ------------------------------------------------------------------------------ report
def test_report_is_one_self_contained_file(classification_csv, runs_dir, invoke):
    run = _train(classification_csv, runs_dir, target="label", task="classification")
    result = invoke("report", run.id, "--runs-dir", runs_dir)
    assert result.exit_code == 0, result.output
    path = Path(result.output.strip())
    assert path == run.path / "report.html"
    html = path.read_text()
    links = _links(html)
    images = [src for tag, src in links.sources if tag == "img"]
    assert len(images) >= 6  # curves + one confusion matrix per split
    assert all(src.startswith("data:image/png;base64,") for src in images)
    assert not [src for _, src in links.sources if re.match(r"https?://", src)]
    assert not [href for href in links.hrefs if re.match(r"https?://", href)]
    assert not {"script", "link", "iframe"} & set(links.tags)
    for section in ("reproduce", "config", "data", "model", "curves", "findings", "metrics",
                    "confusion"):
        assert f'id="{section}"' in html
    assert f"trainwise train {run.path.resolve() / 'config.yaml'}" in html
    findings = run.run_dir.read_json("findings.json")  # written at the end of every train
    assert findings and all(finding["title"] in html for finding in findings)
    assert "balanced accuracy" in html and "Per class, test split" in html
    # The HTML confusion table is coloured by the same function as the PNG.
    matrix = run.metrics["test"]["confusion_matrix"]
    shares = row_shares(matrix)
    for i, row in enumerate(matrix):
        for j in range(len(row)):
            assert f"background-color: {hex_colour(cell_colour(shares[i][j], i == j))}" in html


def test_report_escapes_findings_and_renders_them_worst_first(regression_csv, runs_dir, invoke):
    run = _train(regression_csv, runs_dir)
    (run.path / "findings.json").write_text(json.dumps(FINDINGS))
    output = run.path.parent / "elsewhere" / "report.html"
    result = invoke("report", run.path, "--output", output)
    assert result.exit_code == 0, result.output
    html = output.read_text()
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;close&lt;/b&gt;" in html
    assert html.index("Over-fitting from epoch 3") < html.index("Good fit")
    assert "epochs 3–5" in html and "model.dropout: 0.1-0.3" in html
    assert "MAE (y)" in html
    assert 'id="confusion"' not in html


def test_report_redraws_missing_plots_and_survives_a_run_without_metrics(regression_csv,
                                                                         runs_dir, invoke):
    run = _train(regression_csv, runs_dir)
    shutil.rmtree(run.path / "plots")
    (run.path / "metrics.json").unlink()
    result = invoke("report", run.id, "--runs-dir", runs_dir)
    assert result.exit_code == 0, result.output
    assert (run.path / "plots" / "loss.png").is_file()
    html = (run.path / "report.html").read_text()
    assert "No metrics" in html
    assert html.count("<img ") == len(planned_plots(run.path))


def test_report_of_an_unknown_run_is_a_user_error(runs_dir, invoke):
    result = invoke("report", "no-such-run", "--runs-dir", runs_dir)
    assert result.exit_code == 2 and "is not a run directory" in result.output


@pytest.mark.slow
@NEEDS_CHROMIUM
@pytest.mark.parametrize("task", ["classification", "regression"])
def test_report_renders_offline_in_a_real_browser(task, classification_csv, regression_csv,
                                                  runs_dir):
    from playwright.sync_api import sync_playwright

    from trainwise.reports.html import write_report

    if task == "classification":
        run = _train(classification_csv, runs_dir, target="label", task=task)
    else:
        run = _train(regression_csv, runs_dir)
    (run.path / "findings.json").write_text(json.dumps(FINDINGS))
    path = write_report(run.path).resolve()
    blocked = []

    def only_local(route):
        # The report must need nothing but itself: anything else is recorded and refused.
        if route.request.url.startswith(("file://", "data:")):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.route("**/*", only_local)
            page.goto(path.as_uri(), wait_until="load")
            images = page.eval_on_selector_all(
                "img", "images => images.map(image => [image.complete, image.naturalWidth])")
            findings = page.locator("#findings .finding").count()
            warning_title = page.locator("#findings .finding.warning h3").inner_text()
            metrics_text = page.locator("#metrics").inner_text()
            confusion_cells = page.locator("#confusion td.cell").count()
        finally:
            browser.close()
    assert blocked == []
    assert len(images) >= 5
    assert all(complete and width > 0 for complete, width in images), images
    assert findings == 2 and "Over-fitting from epoch 3" in warning_title
    if task == "classification":
        assert "accuracy" in metrics_text and confusion_cells == 2 * 9  # 3 classes, 2 splits
    else:
        assert "MAE (y)" in metrics_text and confusion_cells == 0
