"""``trainwise serve [--workspace DIR] [--host 127.0.0.1] [--port 8765] [--store URL]``"""

from __future__ import annotations

import click

from trainwise.cli.options import store_option

# Seconds the server waits for open pages' event streams before it stops anyway.
GRACEFUL_SHUTDOWN_S = 3


@click.command()
@click.option("--workspace", default=".", show_default=True,
              type=click.Path(file_okay=False),
              help="The folder whose configs can be launched (and that holds the runs).")
@click.option("--runs-dir", default="runs", show_default=True,
              help="Run directories and the run store, relative to the workspace.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; any non-loopback address requires a token.")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(1, 65535))
@click.option("--token", default=None,
              help="Access token required on every request. Generated and printed when "
                   "--host is not a loopback address and none is given.")
@click.option("--allow-user-code", is_flag=True,
              help="Allow starting configs whose model.name imports your own module "
                   "(package.module:Class). Off by default: it runs code from the workspace.")
@store_option
def serve(workspace: str, runs_dir: str, host: str, port: int, token: str | None,
          allow_user_code: bool, store: str | None) -> None:
    """The live training dashboard in the browser: runs, curves, start, stop, resume.

    \b
    Trainings run as their own processes (`trainwise train`/`resume`), so stopping or
    restarting the server never stops them; it finds them again in the run store.
    Example: trainwise serve --workspace . ; then open http://127.0.0.1:8765/
    With --store postgresql://... it follows the runs of every machine writing there.
    """
    import uvicorn

    from trainwise.serve import ServeSettings, create_app

    settings, generated = ServeSettings.create(workspace, runs_dir, host, port, token,
                                               allow_user_code, store)
    app = create_app(settings)  # opens the run store: an unreachable one ends here (exit 2)
    click.echo(f"trainwise dashboard for {settings.workspace} (runs in {settings.runs_dir}, "
               f"run store {settings.store_label()})")
    if generated:
        click.echo(f"Access token (generated; give --token to choose one): {settings.token}")
    click.echo(f"Open {settings.url()}   (Ctrl-C stops the server, not the trainings)")
    # ws="none": the dashboard speaks server-sent events, not websockets.
    uvicorn.run(app, host=host, port=port, log_level="warning", ws="none",
                timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S)
