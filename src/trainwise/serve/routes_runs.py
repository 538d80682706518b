"""Runs: the list, one run's detail, Stop, Resume, the report, and comparing runs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import RedirectResponse

from trainwise.serve.payload import finite
from trainwise.serve.requests import ResumeRequest
from trainwise.serve.routes_launch import refuse_user_code
from trainwise.serve.run_view import run_snapshot, run_summary
from trainwise.serve.services import ServicesDep
from trainwise.serve.warm import load_reports
from trainwise.tracking.liveness import observed_status
from trainwise.tracking.run_control import (clear_stop_request, process_alive, read_process,
                                            request_stop)
from trainwise.yaml_io import load_yaml

router = APIRouter()
MAX_COMPARED = 12  # runs on one comparison page


@router.get("/api/runs")
def runs(svc: ServicesDep) -> dict:
    """Every run in the store, oldest first, with live status."""
    return finite({"runs": [run_summary(row) for row in svc.store.list_runs()]})


@router.get("/api/runs/{run_id}")
def run(run_id: str, svc: ServicesDep) -> dict:
    """One run: detail, history, batch losses (the run page's first state); only what the
    store holds for a run whose folder is not in this workspace's runs folder."""
    svc.row_or_404(run_id)
    return finite(run_snapshot(svc.settings, svc.store, run_id))


@router.post("/api/runs/{run_id}/stop", status_code=202)
def stop(run_id: str, svc: ServicesDep) -> dict:
    """Ask a running run to stop after its current batch; it saves and ends as ``stopped``."""
    row, path = svc.run_or_404(run_id)
    if row["status"] != "running":
        raise HTTPException(409, f"run {run_id} is {row['status']}, not running")
    process = read_process(path)
    if process is None:
        raise HTTPException(409, f"run {run_id} has not begun training yet; stop it in a "
                                 "moment")
    if process_alive(process) is False:
        raise HTTPException(409, f"run {run_id}'s process ({process['pid']}) no longer "
                                 "exists; resume the run instead")
    request_stop(path, process)
    return {"run_id": run_id, "stop_requested": True, "pid": process["pid"]}


@router.post("/api/runs/{run_id}/resume", status_code=202)
def resume(run_id: str, body: ResumeRequest, svc: ServicesDep) -> dict:
    """Continue a run exactly from its ``last.pt``, as ``trainwise resume`` does."""
    row, path = svc.run_or_404(run_id)
    if observed_status(row) == "running":
        raise HTTPException(409, f"run {run_id} is still running")
    # Without a checkpoint the resume trains the run again from epoch 0, in place (exact).
    done = row.get("epochs") or 0
    if body.epochs is not None and body.epochs <= done:
        raise HTTPException(400, f"epochs {body.epochs}: run {run_id} has already trained "
                                 f"{done} epochs; ask for more than that")
    if row["status"] == "finished" and body.epochs is None:
        raise HTTPException(400, f"run {run_id} has finished; give the new total number of "
                                 "epochs to continue it")
    config = load_yaml((path / "config.yaml").read_text()) or {}
    refuse_user_code(svc, str(config.get("model", {}).get("name", "")), f"run {run_id}")
    clear_stop_request(path)  # a request left over from an earlier process is void
    return svc.launcher.resume(run_id, path, body.epochs).to_dict()


@router.get("/runs/{run_id}/report")
def report(run_id: str, svc: ServicesDep) -> RedirectResponse:
    """Write (or refresh) the run's HTML report, then show it."""
    load_reports()
    from trainwise.reports.html import write_report

    _, path = svc.run_or_404(run_id)
    target = path / "report.html"
    sources = [path / name for name in ("status.json", "findings.json", "metrics.json")]
    newest = max((file.stat().st_mtime for file in sources if file.is_file()), default=0.0)
    if not target.is_file() or target.stat().st_mtime < newest:
        write_report(path)
    return RedirectResponse(f"/files/{run_id}/report.html", status_code=303)


@router.get("/api/compare")
def compare(ids: Annotated[list[str], Query(min_length=1, max_length=MAX_COMPARED)],
            svc: ServicesDep) -> dict:
    """Several runs' histories and the settings in which their configs differ."""
    load_reports()
    from trainwise.reports.compare import differing_settings, run_labels

    configs, runs_out = {}, []
    for run_id in dict.fromkeys(ids):
        row, path = svc.run_or_404(run_id)
        configs[run_id] = load_yaml((path / "config.yaml").read_text()) or {}
        runs_out.append({"run": run_summary(row), "history": svc.store.history(run_id)})
    settings = differing_settings(configs)
    labels = run_labels(settings, list(configs))
    for entry in runs_out:
        entry["label"] = labels.get(entry["run"]["id"], entry["run"]["id"])
    return finite({"runs": runs_out, "settings": settings})
