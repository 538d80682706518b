"""The dashboard's web application: routes, static files, the event hub and access rules.

Example:
    >>> settings, _ = ServeSettings.create("my-workspace")           # doctest: +SKIP
    >>> uvicorn.run(create_app(settings), host=settings.host, port=settings.port)  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from trainwise.serve import (routes_events, routes_files, routes_launch, routes_pages,
                             routes_runs)
from trainwise.serve.events import EventHub
from trainwise.serve.launcher import Launcher
from trainwise.serve.payload import finite
from trainwise.serve.routes_pages import STATIC
from trainwise.serve.security import AccessGuard
from trainwise.serve.services import Services
from trainwise.serve.settings import ServeSettings
from trainwise.serve.warm import load_reports
from trainwise.tracking.store import RunStore


def create_app(settings: ServeSettings) -> FastAPI:
    """Build the app for one workspace.

    Args:
        settings: checked settings (see ``ServeSettings.create``).

    Returns:
        A FastAPI app; its lifespan runs the event hub's polling task.
    """
    store = RunStore(settings.store_path)
    launcher = Launcher(settings)
    hub = EventHub(settings, store, launcher)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        polling = asyncio.create_task(hub.run())
        warming = asyncio.create_task(asyncio.to_thread(load_reports))  # see warm.py
        try:
            yield
        finally:
            for task in (polling, warming):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            launcher.close()

    # No /docs: its page loads scripts from a CDN, and the dashboard works offline.
    app = FastAPI(title="trainwise dashboard", lifespan=lifespan, docs_url=None,
                  redoc_url=None, openapi_url=None)
    app.state.services = Services(settings, store, launcher, hub)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    for module in (routes_pages, routes_runs, routes_launch, routes_events, routes_files):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(AccessGuard, settings=settings)
    return app


async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 with pydantic's errors, as FastAPI answers, but always as valid JSON.

    FastAPI echoes each refused input; a non-finite one (1e999, NaN) cannot be written as
    JSON, and its own handler then fails with a 500. Here such an input is shown as text.
    """
    errors = [_readable(dict(error, input=_shown(error.get("input")))) for error in exc.errors()]
    return JSONResponse(status_code=422, content={"detail": finite(jsonable_encoder(errors))})


def _readable(error: dict) -> dict:
    if error["type"] == "finite_number":
        error["msg"] = (f"must be a finite number, not {error['input']} (NaN and infinity, "
                        "e.g. 1e999, are not valid settings); give an ordinary number")
    return error


def _shown(value):
    """A refused input as JSON can carry it: non-finite numbers become 'inf', '-inf', 'nan'."""
    return str(value) if isinstance(value, float) and not math.isfinite(value) else value
