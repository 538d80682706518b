"""Tables printed after training and evaluation."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from trainwise.cli.console import make_console
from trainwise.run_files import RunFiles


def print_results(run: RunFiles, console: Console | None = None, status: dict | None = None) -> None:
    """The run's status line, then its metrics per split.

    Args:
        run: the run.
        console: where to print.
        status: the status to show instead of the run's status.json (as observed).
    """
    console = console or make_console()
    status = status or run.status
    best = (f", best {status['monitor']} {status['best_value']:.4g} at epoch "
            f"{status['best_epoch']}" if status.get("best_epoch") else "")
    console.print(f"[bold]{run.id}[/bold]: {status['status']} after {status['epochs']} epochs "
                  f"in {status['duration_s']:.1f}s{best}", highlight=False)
    if status.get("stop_reason"):
        console.print(f"  {status['stop_reason']}", highlight=False)
    if status.get("reason") and status["reason"] != status.get("stop_reason"):
        console.print(f"  {status['reason']}", highlight=False)
    if status["status"] in RESUMABLE_ENDS:
        console.print(f"Resume with: trainwise resume {run.path}", highlight=False)
        return
    for split, metrics in run.metrics.items():
        print_metrics(metrics, f"{split} split", console, status)
    if run.run_dir.exists("findings.json"):
        print_findings(run.findings, console)
    console.print(f"Run record: {run.path}", highlight=False)


# Ends after which the run continues with `trainwise resume` (a finished one needs --epochs).
RESUMABLE_ENDS = ("stopped", "interrupted", "failed")
# A stop by a signal exits as the shell expects (128 + the signal); a diverged run with 1.
SIGNAL_EXIT_BASE = 128
DIVERGED_EXIT_CODE = 1


def exit_code(status: dict) -> int:
    """The exit code of ``train``/``resume`` for the run's final status.json."""
    import signal

    if status["status"] == "stopped" and status.get("signal"):
        return SIGNAL_EXIT_BASE + signal.Signals[status["signal"]].value
    return DIVERGED_EXIT_CODE if status["status"] == "diverged" else 0


SEVERITY_STYLE = {"problem": "bold red", "warning": "yellow", "info": "cyan"}


def print_findings(findings: list[dict], console: Console | None = None) -> None:
    """Each finding: severity and title, the plain-words message, then the advice."""
    console = console or make_console()
    console.print("[bold]Diagnosis[/bold]")
    for finding in findings:
        style = SEVERITY_STYLE.get(finding["severity"], "")
        console.print(f"[{style}]{finding['severity'].upper()}[/{style}] {finding['title']}",
                      highlight=False)
        console.print(f"  {finding['message']}", highlight=False)
        for advice in finding["advice"]:
            console.print(f"  -> {advice}", highlight=False)


def print_metrics(metrics: dict, title: str, console: Console | None = None,
                  status: dict | None = None) -> None:
    console = console or make_console()
    if "mean_iou" in metrics:
        _print_segmentation(metrics, title, console, status)
        return
    if "confusion_matrix" in metrics:
        _print_classification(metrics, title, console, status)
        return
    if "coverage_90" in metrics:
        _print_probabilistic(metrics, title, console, status)
        return
    table = Table("MAE", "RMSE", "R²", "rows", *(_run_columns(status)), title=title)
    table.add_row(f"{metrics['mae']:.4g}", f"{metrics['rmse']:.4g}", f"{metrics['r2']:.4f}",
                  str(metrics["n"]), *_run_values(status))
    console.print(table)


def _print_probabilistic(metrics: dict, title: str, console: Console, status) -> None:
    """A predicted Normal's scores: its mean's error, its likelihood, its intervals' coverage."""
    sites = "n_sites" in metrics
    rows = (f"{metrics['n_sites']} sites / {metrics['n_measurements']}" if sites
            else str(metrics["n"]))
    table = Table("MAE", "RMSE", "NLL", "CRPS", "cover 50/90/95 %", "mean σ", "rows",
                  *_run_columns(status), title=title)
    table.add_row(f"{metrics['mae']:.4g}", f"{metrics['rmse']:.4g}", f"{metrics['nll']:.4g}",
                  f"{metrics['crps']:.4g}",
                  " / ".join(f"{metrics[f'coverage_{level}']:.2f}" for level in (50, 90, 95)),
                  f"{metrics['sharpness']:.4g}", rows, *_run_values(status))
    console.print(table)
    if sites:
        console.print(f"sites: RMSE of the mean {metrics['rmse_site_mean']:.4g}, of the "
                      f"variance {metrics['rmse_variance']:.4g}; rank correlation of predicted "
                      f"and site variance {metrics['variance_rank_correlation']:.3f}",
                      highlight=False)
    if "gp_baseline" in metrics:
        gp = metrics["gp_baseline"]
        console.print(f"GP baseline: RMSE {gp['rmse']:.4g}, NLL {gp['nll']:.4g}, 90 % coverage "
                      f"{gp['coverage_90']:.2f}"
                      + (f", RMSE of the site mean {gp['rmse_site_mean']:.4g}" if sites else ""),
                      highlight=False)


def _print_classification(metrics: dict, title: str, console: Console, status) -> None:
    table = Table("accuracy", "balanced acc.", "macro-F1", "PR-AUC", "rows",
                  *_run_columns(status), title=title)
    table.add_row(f"{metrics['accuracy']:.4f}", f"{metrics['balanced_accuracy']:.4f}",
                  f"{metrics['macro_f1']:.4f}", _optional(metrics.get("pr_auc"), ".4f"),
                  str(metrics["n"]), *_run_values(status))
    console.print(table)
    per_class = Table("class", "precision", "recall", "F1", "AP", "support", title="per class")
    for name, scores in metrics["per_class"].items():
        per_class.add_row(name, f"{scores['precision']:.3f}", f"{scores['recall']:.3f}",
                          f"{scores['f1']:.3f}", _optional(scores.get("average_precision"), ".3f"),
                          str(scores["support"]))
    console.print(per_class)
    classes = metrics["classes"]
    matrix = Table("true \\ predicted", *classes, title="confusion matrix")
    for name, row in zip(classes, metrics["confusion_matrix"]):
        matrix.add_row(name, *(str(count) for count in row))
    console.print(matrix)


def _print_segmentation(metrics: dict, title: str, console: Console, status) -> None:
    table = Table("pixel accuracy", "mean IoU", "labelled pixels", *_run_columns(status),
                  title=title)
    table.add_row(_optional(metrics["pixel_accuracy"], ".4f"),
                  _optional(metrics["mean_iou"], ".4f"), str(metrics["pixels"]),
                  *_run_values(status))
    console.print(table)
    per_class = Table("class", "IoU", "F1", "precision", "recall", "pixels", title="per class")
    for name, scores in metrics["per_class"].items():
        per_class.add_row(name, *(_optional(scores[key], ".3f")
                                  for key in ("iou", "f1", "precision", "recall")),
                          str(scores["pixels"]))
    console.print(per_class)


def _optional(value: float | None, spec: str) -> str:
    """A number, or "-" where it is undefined (a class absent from the split) or not recorded
    (runs from before PR-AUC was measured)."""
    return "-" if value is None else format(value, spec)


def _run_columns(status: dict | None) -> tuple[str, ...]:
    return ("best epoch", "epochs run", "time") if status else ()


def _run_values(status: dict | None) -> tuple[str, ...]:
    if not status:
        return ()
    return (str(status.get("best_epoch") or "-"), str(status["epochs"]),
            f"{status['duration_s']:.1f}s")
