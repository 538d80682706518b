"""What one ``trainwise serve`` needs to know: the workspace, where it listens, who may ask."""

from __future__ import annotations

import ipaddress
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from trainwise.errors import UserError
from trainwise.tracking.store_url import ENV_VAR, STORE_FILE, masked, sqlite_file

LOOPBACK_NAMES = ("localhost",)
# Bytes of randomness in a generated token (43 URL-safe characters).
TOKEN_BYTES = 32


@dataclass(frozen=True)
class ServeSettings:
    """The dashboard's settings, checked once at start-up.

    Attributes:
        workspace: the folder whose configs may be launched (absolute, resolved).
        runs_dir: where runs and the run store live (absolute, resolved).
        host, port: where the server listens.
        token: required on every request when set; None only on a loopback address.
        allow_user_code: whether configs that import a model by path may be launched.
        store: the run store shown: a URL (``--store``, ``$TRAINWISE_STORE``), or None for
            the runs folder's ``trainwise.db``.
    """

    workspace: Path
    runs_dir: Path
    host: str = "127.0.0.1"
    port: int = 8765
    token: str | None = None
    allow_user_code: bool = False
    store: str | None = None

    @classmethod
    def create(cls, workspace: str | Path, runs_dir: str | Path = "runs",
               host: str = "127.0.0.1", port: int = 8765, token: str | None = None,
               allow_user_code: bool = False,
               store: str | None = None) -> tuple[ServeSettings, bool]:
        """Check the options and fill in what they leave open.

        Args:
            workspace: an existing folder.
            runs_dir: relative to the workspace, or absolute.
            host: an address or host name to bind to.
            port: the TCP port.
            token: the access token; None generates one for a non-loopback address.
            allow_user_code: allow launching configs with ``model.name: module:Class``.
            store: the ``--store`` URL; None: ``$TRAINWISE_STORE``, else the runs folder's.

        Returns:
            The settings, and whether the token was generated here (so it must be shown).

        Raises:
            UserError: the workspace does not exist, the token is empty, or the store is no
                store URL.
        """
        folder = Path(workspace).expanduser()
        if not folder.is_dir():
            raise UserError(f"--workspace '{workspace}' is not a folder; give the folder that "
                            "holds your configs (and runs/), e.g. --workspace .")
        if token is not None and not token.strip():
            raise UserError("--token is empty; give a long random string, or leave --token "
                            "out to have one generated")
        generated = token is None and not is_loopback(host)
        if generated:
            token = secrets.token_urlsafe(TOKEN_BYTES)
        folder = folder.resolve()
        runs = Path(runs_dir).expanduser()
        runs = (runs if runs.is_absolute() else folder / runs).resolve()
        store = store or os.environ.get(ENV_VAR) or None
        if store is not None and sqlite_file(store) is not None:
            # Absolute: the trainings this server launches run in the workspace, not here.
            store = str(sqlite_file(store).resolve())
        return cls(folder, runs, host, port, token, allow_user_code, store), generated

    @property
    def store_path(self) -> str | Path:
        """The run store to open: the URL, or the runs folder's SQLite file."""
        return self.store or self.runs_dir / STORE_FILE

    def store_label(self) -> str:
        """The store as the console may show it (a URL's password hidden)."""
        return masked(self.store_path)

    @property
    def state_dir(self) -> Path:
        """The dashboard's own files (launch logs), hidden in the workspace."""
        return self.workspace / ".trainwise"

    def url(self, with_token: bool = True) -> str:
        """The address to open in a browser (with ``?token=`` when one is required)."""
        host = self.host
        if host in ("0.0.0.0", "::"):
            host = "127.0.0.1" if host == "0.0.0.0" else "[::1]"
        elif ":" in host:
            host = f"[{host}]"
        query = f"?token={self.token}" if self.token and with_token else ""
        return f"http://{host}:{self.port}/{query}"


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only (127.0.0.0/8, ::1, localhost).

    Example:
        >>> is_loopback("127.0.0.1"), is_loopback("0.0.0.0"), is_loopback("localhost")
        (True, False, True)
    """
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to any interface
