"""``trainwise diagnose RUN``"""

from __future__ import annotations

import json

import click

from trainwise.cli.options import runs_dir_option


@click.command()
@click.argument("run")
@runs_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
def diagnose(run: str, runs_dir: str, as_json: bool) -> None:
    """Read RUN's training curves and say what they show and what to change.

    The same diagnosis runs at the end of every `trainwise train`; this re-reads the run's
    history (also of an interrupted run) and rewrites its findings.json.
    """
    from trainwise.atomic import write_json_atomic
    from trainwise.diagnostics import diagnose_run
    from trainwise.errors import UserError
    from trainwise.tracking.run_dir import resolve_run

    run_dir = resolve_run(run, runs_dir)
    if not run_dir.exists("history.json"):
        raise UserError(f"run '{run_dir.path}' has no history.json yet: it has not finished an "
                        "epoch. Diagnose it once it has trained or been interrupted.")
    findings = [finding.to_dict() for finding in diagnose_run(run_dir.path)]
    write_json_atomic(run_dir.file("findings.json"), findings)
    if as_json:
        click.echo(json.dumps(findings, indent=2))
        return
    from trainwise.cli.display import print_findings

    print_findings(findings)
