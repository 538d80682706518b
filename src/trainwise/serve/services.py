"""The pieces every route needs, held by the app and handed to routes as a dependency."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from trainwise.serve.events import EventHub
from trainwise.serve.launcher import Launcher
from trainwise.serve.run_view import run_path
from trainwise.serve.settings import ServeSettings
from trainwise.tracking.store import RunStore


@dataclass
class Services:
    """The server's settings, run store, launcher and event hub."""

    settings: ServeSettings
    store: RunStore
    launcher: Launcher
    hub: EventHub

    def row_or_404(self, run_id: str) -> dict:
        """The run's store row, for what the store alone can show: its curves and status
        (a shared store holds runs whose folders are on other machines).

        Raises:
            HTTPException: 404 when the store has no such run.
        """
        row = self.store.get_run(run_id)
        if row is None:
            raise HTTPException(404, f"no run '{run_id}' in the run store")
        return row

    def run_or_404(self, run_id: str) -> tuple[dict, Path]:
        """The run's store row and directory.

        Raises:
            HTTPException: 404 when the store has no such run, or its folder is not in the
                workspace's runs folder.
        """
        row = self.store.get_run(run_id)
        path = run_path(self.settings, row)
        if row is None or path is None:
            raise HTTPException(404, f"no run '{run_id}' in {self.settings.runs_dir}")
        return row, path


def services(request: Request) -> Services:
    """The app's services, for ``ServicesDep``."""
    return request.app.state.services


# A route's parameter ``svc: ServicesDep`` receives the app's services.
ServicesDep = Annotated[Services, Depends(services)]
