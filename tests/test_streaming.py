"""Streaming training rows from Parquet: coverage, order, resume, refusals, bounded memory."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import torch

from tests.helpers import InterruptAtStep, assert_same_run
from trainwise.config import load_config
from trainwise.data.parquet_scan import read_fit_sample, read_layout
from trainwise.data.prepare import prepare_data
from trainwise.data.preprocess import Preprocessor
from trainwise.data.shuffle_buffer import ShuffleBuffer
from trainwise.data.stream_transform import ChunkTransform
from trainwise.data.streaming import plan_epoch
from trainwise.errors import UserError
from trainwise.resume_run import resume
from trainwise.session import fit
from trainwise.training.stream_batches import StreamingBatches

TRAIN_ROWS = 3000


@pytest.fixture
def tables(tmp_path):
    """3,000 training rows in 8 row groups (the last one short) and 500 validation rows."""
    rng = np.random.default_rng(0)
    n = TRAIN_ROWS + 500
    frame = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n),
                          "colour": rng.choice(["red", "green", "blue"], size=n)})
    frame["y"] = 2 * frame.x1 - frame.x2 + (frame.colour == "red") + rng.normal(0, 0.1, n)
    frame.loc[[5, 700, 2100], "x2"] = np.nan
    train, val = tmp_path / "train.parquet", tmp_path / "val.parquet"
    frame.iloc[:TRAIN_ROWS].to_parquet(train, row_group_size=400)
    frame.iloc[TRAIN_ROWS:].to_parquet(val)
    return train, val


def stream_config(tables, **streaming) -> dict:
    train, val = tables
    return {
        "name": "stream",
        "data": {"source": str(train), "target": "y",
                 "split": {"method": "files", "val_file": str(val)},
                 "streaming": {"enabled": True, "workers": 2, "chunk_rows": 128,
                               "shuffle_buffer": 512, **streaming}},
        "model": {"hidden": [16]},
        "train": {"epochs": 3, "batch_size": 64, "lr": 0.01},
    }


def streamed(tables, **streaming) -> StreamingBatches:
    data = prepare_data(load_config(stream_config(tables, **streaming)))
    return StreamingBatches(data.streaming, batch_size=64, seed=0, device=torch.device("cpu"))


def epoch_rows(batches: StreamingBatches, epoch: int, skip: int = 0) -> list[torch.Tensor]:
    return [torch.cat([x, y[:, None]], dim=1) for x, y, _ in batches.epoch(epoch, skip)]


# ------------------------------------------------------------------- reading plan and buffer
@pytest.mark.parametrize("chunks,workers", [([3, 1], 2), ([1], 3), ([5, 5, 2, 7], 4), ([4], 0)])
def test_plan_covers_every_chunk_once_and_evenly(chunks, workers):
    spans = plan_epoch(chunks, workers, seed=3, epoch=1)
    read = [(p.row_group, c) for span in spans for p in span
            for c in range(p.first_chunk, p.stop_chunk)]
    assert sorted(read) == [(g, c) for g, n in enumerate(chunks) for c in range(n)]
    sizes = [sum(p.stop_chunk - p.first_chunk for p in span) for span in spans]
    assert len(spans) == max(workers, 1) and max(sizes) - min(sizes) <= 1


def test_plan_depends_on_seed_and_epoch_only():
    assert plan_epoch([4, 4, 4], 2, seed=0, epoch=5) == plan_epoch([4, 4, 4], 2, seed=0, epoch=5)
    assert plan_epoch([4, 4, 4], 2, seed=0, epoch=5) != plan_epoch([4, 4, 4], 2, seed=0, epoch=6)


def test_shuffle_buffer_emits_every_row_once_in_full_batches():
    buffer = ShuffleBuffer(capacity=100, batch_size=32, rng=np.random.default_rng(0))
    out = []
    for start in range(0, 1000, 70):  # chunks of 70 rows
        rows = np.arange(start, min(start + 70, 1000))
        out += [y for _, y in buffer.add(rows[:, None].astype(np.float32), rows)]
    out += [y for _, y in buffer.flush()]
    assert [len(y) for y in out[:-1]] == [32] * (len(out) - 1)
    served = np.concatenate(out)
    assert sorted(served.tolist()) == list(range(1000))
    assert not np.array_equal(served, np.arange(1000))  # shuffled


def test_fit_sample_is_whole_blocks_from_all_over_the_file(tables):
    path = str(tables[0])
    sample = read_fit_sample(path, read_layout(path, "data.source"), 1024, seed=0)
    frame = pd.read_parquet(path)
    assert 1024 <= len(sample) < 1024 + 400  # blocks are cut at the 400-row groups
    assert sample.index.max() >= 1200  # not the head of the file: 3 of 8 groups, drawn
    pd.testing.assert_frame_equal(sample, frame.loc[sample.index])
    everything = read_fit_sample(path, read_layout(path, "data.source"), 10_000, seed=0)
    pd.testing.assert_frame_equal(everything, frame)


def test_chunk_transform_equals_the_preprocessor_on_every_column_kind():
    frame = pd.DataFrame({
        "n": pd.array([1, None, 3, 4], dtype="Int64"),  # integers with a gap
        "f": np.array([0.5, 1.5, np.nan, -2.0], dtype=np.float32),
        "c": ["a", "?", None, "b"],
        "y": [1.0, 2.0, None, 4.0]})
    prep = Preprocessor.fit(frame.replace(["?"], pd.NA).dropna(subset=["y"]), ["n", "f"], ["c"],
                            "y", "regression")
    batch = pa.RecordBatch.from_pandas(frame, preserve_index=False)
    features, targets = ChunkTransform(prep, ["?"]).arrays(batch, first_row=10, source="t")
    kept = frame.replace(["?"], pd.NA).dropna(subset=["y"])
    assert np.array_equal(features, prep.transform_features(kept))  # to the bit
    assert np.array_equal(targets, prep.transform_target(kept.y))


# ------------------------------------------------------------------- a streamed epoch
def test_an_epoch_serves_every_training_row_exactly_once(tables):
    batches = streamed(tables)
    rows = epoch_rows(batches, 0)
    assert len(rows) == len(batches) == -(-TRAIN_ROWS // 64)
    assert [len(r) for r in rows[:-1]] == [64] * (len(rows) - 1)
    served = torch.cat(rows).numpy()  # (3000, F + 1)
    frame = pd.read_parquet(tables[0])
    prep = batches.source.preprocessor
    expected = np.column_stack([prep.transform_features(frame), prep.transform_target(frame.y)])
    assert served.shape == expected.shape
    assert np.array_equal(_sorted_rows(served), _sorted_rows(expected))


def _sorted_rows(rows: np.ndarray) -> np.ndarray:
    return rows[np.lexsort(rows.T[::-1])]


@pytest.mark.parametrize("workers", [0, 2])
def test_order_depends_only_on_seed_and_epoch(tables, workers):
    first, again = streamed(tables, workers=workers), streamed(tables, workers=workers)
    epoch_0 = epoch_rows(first, 0)
    assert all(torch.equal(a, b) for a, b in zip(epoch_0, epoch_rows(again, 0)))
    assert not torch.equal(epoch_0[0], epoch_rows(first, 1)[0])  # each epoch reshuffles
    # A resumed epoch skips what was trained and goes on with the very same batches.
    skipped = epoch_rows(again, 1, skip=7)
    assert all(torch.equal(a, b) for a, b in zip(epoch_rows(first, 1)[7:], skipped))


# ------------------------------------------------------------------- runs
def test_streamed_run_trains_like_an_in_memory_run(tables, runs_dir):
    streamed_run = fit(stream_config(tables), runs_dir=runs_dir, progress=False)
    in_memory = fit(stream_config(tables, enabled=False), runs_dir=runs_dir, progress=False)
    losses = [record["val_loss"] for record in streamed_run.history]
    assert losses[-1] < 0.05  # standardised target: predicting the mean scores 1.0
    assert losses[-1] == pytest.approx(in_memory.history[-1]["val_loss"], rel=0.25)
    summary = streamed_run.run_dir.read_json("data_summary.json")
    assert summary["streaming"]["enabled"] is True and summary["streaming"]["workers"] == 2
    assert summary["rows"] == {"train": TRAIN_ROWS, "val": 500}
    assert summary["missing_by_column"] == {"x2": 3}  # from the file's metadata
    # Every row is sampled (fit_rows >= rows), so the preprocessing equals the in-memory one.
    assert (streamed_run.run_dir.read_json("preprocessing.json")
            == in_memory.run_dir.read_json("preprocessing.json"))
    assert in_memory.run_dir.read_json("data_summary.json")["streaming"]["enabled"] is False


def test_resuming_a_streamed_run_mid_epoch_equals_a_straight_run(tables, tmp_path):
    cfg = stream_config(tables)
    straight = fit(cfg, runs_dir=tmp_path / "a", progress=False)
    # 47 batches per epoch: step 60 is inside epoch 2.
    fit(cfg, runs_dir=tmp_path / "b", progress=False, callbacks=[InterruptAtStep(60)])
    resumed = resume("last", runs_dir=tmp_path / "b", progress=False)
    assert_same_run(straight, resumed)


def test_a_changed_file_stops_the_resume(tables, runs_dir):
    fit(stream_config(tables), runs_dir=runs_dir, progress=False, callbacks=[InterruptAtStep(5)])
    frame = pd.read_parquet(tables[0])
    frame.loc[0, "x1"] = 99.0
    frame.to_parquet(tables[0], row_group_size=400)
    with pytest.raises(UserError, match="changed since run"):
        resume("last", runs_dir=runs_dir, progress=False)


def test_classes_come_from_the_whole_file_not_the_fit_sample(tmp_path):
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"x1": rng.normal(size=TRAIN_ROWS), "x2": rng.normal(size=TRAIN_ROWS)})
    frame["label"] = np.where(frame.x1 > 0, "a", "b")
    path = tmp_path / "classes.parquet"
    frame.to_parquet(path)
    sample = read_fit_sample(str(path), read_layout(str(path), "f"), 1024, seed=0)
    outside = sorted(set(range(TRAIN_ROWS)) - set(sample.index))[:5]
    frame.loc[outside, "label"] = "rare"  # five rows the 1,024-row fit sample does not hold
    frame.to_parquet(path)
    cfg = load_config({"data": {"source": str(path), "target": "label",
                                "split": {"method": "none"},
                                "streaming": {"enabled": True, "fit_rows": 1024}},
                       "task": {"type": "classification"}})
    data = prepare_data(cfg)
    assert data.preprocessor.classes == ["a", "b", "rare"]
    assert data.summary["class_counts"]["train"]["rare"] == 5
    assert 1024 <= len(data.arrays["train"][0]) < 2048  # the fit sample: whole blocks


def test_text_in_a_later_chunk_stops_the_run_with_the_cell(tables, runs_dir):
    frame = pd.read_parquet(tables[0])
    frame["x1"] = frame.x1.map(str)  # numbers written as text, as a CSV export might
    sample = read_fit_sample(str(tables[0]), read_layout(str(tables[0]), "f"), 1024, seed=0)
    row = max(set(range(TRAIN_ROWS)) - set(sample.index))  # outside the 1,024-row fit sample
    frame.loc[row, "x1"] = "n/a"
    frame.to_parquet(tables[0], row_group_size=400)
    cfg = stream_config(tables, fit_rows=1024, workers=1)
    with pytest.raises(UserError, match=rf"column 'x1' should be numeric.*'n/a' \(rows {row}"):
        fit(cfg, runs_dir=runs_dir, progress=False)


# ------------------------------------------------------------------- what streams, what not
@pytest.mark.parametrize("change,field", [
    ({"data.source": "table.csv"}, "data.source"),
    ({"data.split.method": "random"}, "data.split.method"),
    ({"data.missing": "drop"}, "data.missing"),
    ({"task.type": "classification", "data.balance": "oversample"}, "data.balance"),
    ({"task.type": "classification", "train.pseudo_label.enabled": True, "train.epochs": 20},
     "train.pseudo_label"),
])
def test_unsupported_combinations_are_refused_naming_the_field(tables, change, field):
    cfg = stream_config(tables)
    if change.get("data.split.method") == "random":
        del cfg["data"]["split"]["val_file"]
    with pytest.raises(UserError, match=rf"cannot stream:\n  - {field}") as caught:
        prepare_data(load_config(cfg, change))
    assert "data.streaming.enabled: auto" in str(caught.value)


def test_a_shuffle_buffer_below_two_batches_is_refused(tables):
    with pytest.raises(UserError, match="data.streaming.shuffle_buffer"):
        prepare_data(load_config(stream_config(tables, shuffle_buffer=100)))


def test_auto_streams_only_a_table_larger_than_the_memory_limit(tables):
    small = prepare_data(load_config(stream_config(tables, enabled="auto")))
    assert small.streaming is None and "fits in" in small.summary["streaming"]["reason"]
    large = prepare_data(load_config(stream_config(tables, enabled="auto", max_memory_mb=0.01)))
    assert large.streaming is not None and "exceeds" in large.summary["streaming"]["reason"]
    # A config that cannot stream is read into memory, saying why.
    cfg = stream_config(tables, enabled="auto", max_memory_mb=0.01)
    del cfg["data"]["split"]["val_file"]
    data = prepare_data(load_config(cfg, {"data.split.method": "random"}))
    assert data.streaming is None and "data.split.method" in data.summary["streaming"]["reason"]


def test_the_cli_refuses_with_exit_code_2(tables, tmp_path, invoke):
    path = tmp_path / "cfg.json"  # YAML is a superset of JSON
    cfg = stream_config(tables)
    cfg["data"]["split"] = {"method": "random"}
    path.write_text(json.dumps(cfg))
    result = invoke("train", path, "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 2 and "data.split.method" in result.output


# ------------------------------------------------------------------- bounded memory
MEMORY_SCRIPT = textwrap.dedent("""
    import json, sys, threading
    import numpy as np, pyarrow as pa, pyarrow.parquet as pq
    import trainwise

    path, runs = sys.argv[1], sys.argv[2]
    rows, groups, features = 1_500_000, 20, 50  # 300 MB of float32
    schema = pa.schema([(f"x{i}", pa.float32()) for i in range(features)] + [("y", pa.float32())])
    rng = np.random.default_rng(0)
    with pq.ParquetWriter(path, schema, use_dictionary=False) as writer:
        for _ in range(groups):  # one row group at a time: the test itself stays small
            block = rng.standard_normal((rows // groups, features + 1), dtype=np.float32)
            writer.write_table(pa.Table.from_arrays(list(block.T), schema=schema))
            del block
    import gc, psutil
    from trainwise.session import fit

    def data_mb(pid):
        # A process's own data: anonymous pages, resident or swapped out, and the shared
        # memory it touched (the blocks workers send). Not RSS: RSS also counts library code
        # and other file pages, which the kernel may drop under memory pressure and fault
        # back in later, so RSS can grow by hundreds of MB without anything being allocated.
        kinds, total = {"RssAnon", "RssShmem", "VmSwap"}, 0.0
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                key, _, value = line.partition(":")
                if key in kinds:
                    total += int(value.split()[0]) / 1024  # kB
                    kinds.discard(key)
        if kinds - {"VmSwap"}:
            raise KeyError(f"/proc/{pid}/status has no {sorted(kinds)}")
        return total

    me = psutil.Process()
    peaks, stop = {}, threading.Event()

    def sample():  # the peak of each process while the streamed run trains
        while not stop.is_set():
            for process in [me, *me.children(recursive=True)]:
                try:
                    peaks[process.pid] = max(peaks.get(process.pid, 0), data_mb(process.pid))
                except (OSError, KeyError, ValueError):
                    pass  # a worker that just ended
            stop.wait(0.02)

    cfg = {"data": {"source": path, "target": "y", "split": {"method": "none"},
                    "streaming": {"enabled": "auto", "max_memory_mb": 100, "workers": 2}},
           "model": {"hidden": [8]},
           "train": {"epochs": 1, "batch_size": 4096, "early_stopping": {"enabled": False}}}
    # A small streamed run first: the libraries a run imports as it goes (plots, baselines)
    # are not the stream's memory.
    small = rng.standard_normal((20_000, features + 1), dtype=np.float32)
    pq.write_table(pa.Table.from_arrays(list(small.T), schema=schema), path + ".small.parquet")
    fit({**cfg, "data": {**cfg["data"], "source": path + ".small.parquet",
                         "streaming": {**cfg["data"]["streaming"], "enabled": True}}},
        runs_dir=runs, progress=False)
    del small
    gc.collect()
    baseline = data_mb(me.pid)  # just before the streamed run, and measured the same way
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    run = fit(cfg, runs_dir=runs, progress=False)
    stop.set()
    sampler.join()
    summary = run.run_dir.read_json("data_summary.json")
    workers = [peak for pid, peak in peaks.items() if pid != me.pid]
    print(json.dumps({
        "streamed": summary["streaming"]["enabled"], "rows": summary["rows"]["train"],
        "buffers_estimate_mb": summary["streaming"]["buffers_estimate_mb"],
        "baseline_mb": baseline, "main_growth_mb": peaks[me.pid] - baseline,
        # Workers are forked from this process and share its pages, so each one's own data
        # starts at about this process's: its peak minus the baseline is what it added.
        "workers_seen": len(workers), "workers_peak_mb": max(workers, default=0),
        "worker_growth_mb": max(workers, default=0) - baseline,
    }))
""")


@pytest.mark.integration
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/PID/status")
@pytest.mark.slow
def test_a_table_larger_than_the_memory_limit_trains_in_bounded_memory(tmp_path):
    command = [sys.executable, "-c", MEMORY_SCRIPT, str(tmp_path / "big.parquet"),
               str(tmp_path / "runs")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    file_mb = (tmp_path / "big.parquet").stat().st_size / 2**20
    assert measured["streamed"] and measured["rows"] == 1_500_000 and file_mb > 290
    assert measured["workers_seen"] >= 2, measured  # the workers ran and were measured
    # Holding every row at once takes at least the file's size (its float32 values alone);
    # the stream's buffers are estimated at 50 MB. Measured as each process's own data
    # (anonymous + shared memory + swap, sampled during the streamed run, minus the same just
    # before it): 40-90 MB in the training process (it grows over the first epoch, then stays
    # flat over further ones) and 50-75 MB in a worker, on a quiet 2-core machine and with
    # three copies of this script running at once. Reading the whole table instead (in the
    # fit sample, or in each worker) measured 600-2,000 MB.
    # (The old measure, lifetime peak RSS minus RSS at the baseline, once read 629 MB in CI:
    # RSS counts library pages the kernel drops under memory pressure and faults back in.)
    bound = file_mb / 2
    assert measured["main_growth_mb"] < bound, (bound, measured)
    assert measured["worker_growth_mb"] < bound, (bound, measured)
