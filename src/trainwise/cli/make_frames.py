"""``trainwise make-frames OUT [--sessions-per-class 10] [--frames 50] [--classes 4]
[--range-bins 32] [--sweeps 0] [--seed 0]``"""

from __future__ import annotations

import click

from trainwise.cli.options import refuse_foreign_folder


@click.command("make-frames")
@click.argument("out", type=click.Path(),
                callback=refuse_foreign_folder("trainwise.datasets.frames"))
@click.option("--sessions-per-class", type=click.IntRange(min=1), default=10, show_default=True,
              help="Recording sessions (one .npy file each) per gesture.")
@click.option("--frames", type=click.IntRange(min=2), default=50, show_default=True,
              help="Feature frames per session.")
@click.option("--classes", type=click.IntRange(min=2, max=6), default=4, show_default=True,
              help="Gestures: the first N of swipe, push, circle, idle, pull, wave.")
@click.option("--range-bins", type=click.IntRange(min=8), default=32, show_default=True,
              help="Range bins per frame.")
@click.option("--sweeps", type=click.IntRange(min=0), default=0, show_default=True,
              help="0: 1-D frames [range_bins]; N >= 2: 2-D frames [range_bins, N].")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Drives every draw; the same options give identical files.")
def make_frames(out: str, sessions_per_class: int, frames: int, classes: int, range_bins: int,
                sweeps: int, seed: int) -> None:
    """Write synthetic radar gesture sessions that show why frames must be split by session.

    \b
    OUT/<gesture>/<session>.npy   float32 frames [frames, range_bins(, sweeps)], one session each
    OUT/labels.csv                file,label (paths relative to OUT)
    OUT/README.txt                what the files are
    Each session has its own offset, gain, clutter and speed, shared by all its frames: a
    random frame split scores far higher than a split by session (file).
    A previous make-frames output in OUT is replaced; any other non-empty OUT is refused.
    Example: trainwise make-frames gestures --sessions-per-class 10 --sweeps 32
    """
    from trainwise.datasets.frames import make_frame_sessions

    info = make_frame_sessions(out, sessions_per_class=sessions_per_class,
                               frames_per_session=frames, classes=classes,
                               range_bins=range_bins, sweeps=sweeps, seed=seed)
    shape = " x ".join(str(size) for size in (frames, *info["frame_shape"]))
    click.echo(f"Wrote {info['sessions']} sessions ({sessions_per_class} per gesture: "
               f"{', '.join(info['classes'])}) of {shape} float32 frames to {info['out_dir']},\n"
               f"labels to {info['labels']} (see {info['readme']}).")
