"""Server-sent event streams: the runs list, and one run (see ``events.py`` for the watcher)."""

from __future__ import annotations

from fastapi import APIRouter
from sse_starlette import EventSourceResponse

from trainwise.serve.services import ServicesDep

router = APIRouter()
PING_S = 15  # a comment line now and then keeps proxies from closing a quiet stream


@router.get("/api/events/runs")
async def runs_events(svc: ServicesDep) -> EventSourceResponse:
    """``snapshot`` (runs, launches), then ``runs`` (changed rows) and ``launches`` events."""
    return EventSourceResponse(svc.hub.runs_stream(), ping=PING_S)


@router.get("/api/events/runs/{run_id}")
async def run_events(run_id: str, svc: ServicesDep) -> EventSourceResponse:
    """``snapshot``, then ``update`` (new epochs and batches), ``run`` (status), ``confusion``
    (the live validation matrix) and ``detail`` (results, findings, files) events."""
    svc.row_or_404(run_id)  # a run trained on another machine streams its curves too
    return EventSourceResponse(await svc.hub.run_stream(run_id), ping=PING_S)
