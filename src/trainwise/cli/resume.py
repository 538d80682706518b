"""``trainwise resume RUN [--epochs N]`` (RUN may also be a sweep)"""

from __future__ import annotations

import sys

import click

from trainwise.cli.options import runs_dir_option


@click.command()
@click.argument("run")
@click.option("--epochs", type=click.IntRange(min=1), default=None,
              help="New total number of epochs (default: the run's own).")
@runs_dir_option
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--nproc", type=click.IntRange(min=1), default=None,
              help="Continue with N data-parallel processes on this machine (torchrun); "
                   "any number, whatever the run had.")
def resume(run: str, epochs: int | None, runs_dir: str, quiet: bool, nproc: int | None) -> None:
    """Continue RUN (a path or id) exactly where its last checkpoint left it.

    The learning rate, schedule, optimizer moments, data order, RNG, early-stopping state and
    history all continue; nothing is reset. A run killed before its first checkpoint trains
    again from epoch 0 in its own folder, with the same result.

    RUN may also be a sweep (its folder under RUNS_DIR/sweeps, or its id): its unfinished
    members continue, those never started are trained, and its results are written.
    """
    if nproc is not None and nproc > 1:
        from trainwise.cli.launch import relaunch_with_torchrun, without_nproc

        sys.exit(relaunch_with_torchrun(nproc, without_nproc(sys.argv[1:])))
    from trainwise.sweep.resume import is_sweep

    if is_sweep(run, runs_dir):
        if epochs is not None:
            raise click.UsageError("--epochs applies to one run, not to a sweep; resume a "
                                   "member run to train it longer.")
        from trainwise.cli.sweep import print_sweep
        from trainwise.sweep.resume import resume_sweep

        print_sweep(resume_sweep(run, runs_dir=runs_dir, progress=not quiet))
        return
    from trainwise.cli.display import exit_code, print_results
    from trainwise.resume_run import resume as resume_run

    result = resume_run(run, epochs, runs_dir=runs_dir, progress=not quiet, handle_signals=True,
                        plots=True)
    from trainwise.cli.launch import exit_rank, is_rank

    if result is None:  # a data-parallel rank > 0: rank 0 reports
        exit_rank(0)
    print_results(result)
    if is_rank():
        exit_rank(exit_code(result.status))
    sys.exit(exit_code(result.status))
