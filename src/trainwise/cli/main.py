"""``trainwise``: the command group. User errors print one paragraph and exit with code 2; a
run that failed prints its reason and the path of its traceback, and exits with code 1.

Subcommand modules import torch and pandas inside their functions, so ``trainwise --help``
and ``trainwise runs`` start fast.
"""

from __future__ import annotations

import click

from trainwise.cli.compare import compare
from trainwise.cli.datasets import datasets
from trainwise.cli.diagnose import diagnose
from trainwise.cli.evaluate import evaluate
from trainwise.cli.export import export
from trainwise.cli.isoscape import isoscape
from trainwise.cli.lr_find import lr_find
from trainwise.cli.make_frames import make_frames
from trainwise.cli.make_region import make_region
from trainwise.cli.make_scene import make_scene
from trainwise.cli.predict import predict
from trainwise.cli.report import report
from trainwise.cli.resume import resume
from trainwise.cli.runs import runs
from trainwise.cli.serve import serve
from trainwise.cli.sample_rasters import sample_rasters
from trainwise.cli.segment import segment
from trainwise.cli.show import show
from trainwise.cli.sweep import sweep
from trainwise.cli.train import train
from trainwise.cli.tune import tune
from trainwise.cli.verify_origin import verify_origin
from trainwise.errors import RunFailed, UserError

USER_ERROR_EXIT_CODE = 2


class UserFacingError(click.ClickException):
    """A UserError as click shows it: 'Error: <message>', exit code 2, no traceback."""

    exit_code = USER_ERROR_EXIT_CODE


class RunFailedError(click.ClickException):
    """A run that failed: 'Error: <reason and the log's path>', exit code 1, no traceback
    (it is in the run's error.log)."""

    exit_code = 1


class TrainwiseGroup(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except UserError as err:
            raise UserFacingError(str(err)) from None
        except RunFailed as err:
            raise RunFailedError(str(err)) from None


@click.group(cls=TrainwiseGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="trainwise")
def cli() -> None:
    """Train neural networks on your own data from one YAML file.

    \b
    trainwise train examples/auto_mpg.yaml          train, evaluate, keep a run record
    trainwise train cfg.yaml train.lr=0.003         ... with dotted overrides
    trainwise resume RUN --epochs 200               continue a run exactly
    trainwise predict RUN --input new.csv --output predictions.csv
    trainwise runs                                  list runs
    trainwise diagnose RUN / report RUN             what the curves say; one HTML page
    trainwise compare a.yaml b.yaml                 train both, overlay their curves
    trainwise sweep CONFIG --grid train.lr=0.01,0.001 --seeds 3   many runs, ranked
    trainwise lr-find CONFIG                        suggest a learning rate
    trainwise serve                                 the live dashboard in the browser
    trainwise verify-origin ISO.tif --samples s.csv check claimed origins against an isoscape
    trainwise make-region region                    a synthetic region with known truth
    trainwise make-frames gestures                  radar gesture sessions: why to split by session
    trainwise make-scene scene                      a multi-band scene with known land cover (UNet)
    trainwise sample-rasters pts.csv --rasters DIR --out t.csv   covariates at points
    trainwise isoscape RUN --rasters DIR --out iso.tif           map mean and variance
    trainwise segment RUN --raster scene.tif --out map.tif       map land cover (raster run)
    trainwise export RUN --format onnx              a graph that takes raw values (or pt2)
    trainwise tune CONFIG --trials 30               search hyper-parameters (Optuna)
    trainwise train CONFIG --nproc 2                data-parallel training (torchrun)
    """


for command in (train, resume, predict, evaluate, lr_find, runs, show, diagnose, report, compare,
                serve, sweep, tune,
                datasets, verify_origin, make_region, make_frames, make_scene, sample_rasters,
                isoscape, segment, export):
    cli.add_command(command)


def main() -> None:
    cli()
