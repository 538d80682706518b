// Line charts on uPlot (vendored in static/vendor): the loss per batch and per epoch,
// each metric with its validation twin, the learning rate, and overlays of several runs.

import { chooseScale, scaleSelect, storedChoice } from "./scale.js";

const COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
  "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
const TRAIN = "#1f77b4";
const VAL = "#d62728";
// Smoothing weight of the per-batch loss (TensorBoard's default): higher is smoother.
const SMOOTHING = 0.9;

export function colour(index) {
  return COLOURS[index % COLOURS.length];
}

/** A debiased exponential moving average, as TensorBoard draws a smoothed curve. */
export function smooth(values, weight = SMOOTHING) {
  const out = new Array(values.length);
  let last = 0;
  let count = 0;
  for (let i = 0; i < values.length; i += 1) {
    const value = values[i];
    if (value === null || !Number.isFinite(value)) {
      out[i] = null;
      continue;
    }
    last = last * weight + (1 - weight) * value;
    count += 1;
    out[i] = last / (1 - weight ** count);
  }
  return out;
}

/** Batch losses placed on the epoch axis: a batch of epoch e sits in (e - 1, e]. */
export function batchPositions(batches) {
  const ranges = new Map(); // epoch -> [first step, last step]
  for (const { step, epoch } of batches) {
    const range = ranges.get(epoch);
    if (!range) ranges.set(epoch, [step, step]);
    else range[1] = step;
  }
  return batches.map(({ step, epoch }) => {
    const [first, last] = ranges.get(epoch);
    return epoch - 1 + (step - first + 1) / (last - first + 1);
  });
}

/**
 * A chart whose data is replaced as it arrives; redraws at most once per animation frame.
 * series: [{label, stroke, width, dash, points, alpha}] for the y columns of setData().
 * yLabel: the y axis's name; the scale in use is added to it. scaleKey: the name under which
 * a person's choice of scale is kept (e.g. "loss"; it offers the choice); scaleFrom: the
 * columns (indices into the data) whose span decides the scale (default: all).
 * Until the pointer is on the chart, its legend shows each series' latest value. The
 * container gets data-points, data-scale, data-y-label, and data-ready (performance.now()
 * at its first drawing of data: ms since the page's navigation began).
 */
export class LiveChart {
  constructor(container, { title, xLabel = "epoch", yLabel = "", series, height = 260,
    scaleKey = null, scaleFrom = null }) {
    this.container = container;
    this.title = title;
    this.xLabel = xLabel;
    this.yLabel = yLabel;
    this.series = series;
    this.height = height;
    this.scaleKey = scaleKey;
    this.scaleFrom = scaleFrom || series.map((_, i) => i + 1);
    this.choice = scaleKey ? storedChoice(scaleKey) : "auto";
    this.plot = null;
    this.pending = null;
    this.data = null;
    this.latest = [];
    this.scale = null;
    if (scaleKey) {
      container.append(scaleSelect(scaleKey, (choice) => {
        this.choice = choice;
        this.setData(this.data);
      }));
    }
    new ResizeObserver(() => this.resize()).observe(container);
  }

  /** data: [x, y1, y2, ...] arrays of equal length (null where a series has no point). */
  setData(data) {
    if (!data) return;
    this.pending = data;
    this.container.dataset.points = String(data[0].length);
    requestAnimationFrame(() => this.draw());
  }

  draw() {
    if (!this.pending || !this.pending[0].length) return;
    const data = this.pending;
    this.pending = null;
    this.data = data;
    this.latest = data.map(lastIndex);
    const scale = chooseScale(data, this.scaleFrom, this.choice);
    if (!this.plot || scale !== this.scale) {
      this.scale = scale;
      this.container.dataset.scale = scale;
      this.container.dataset.yLabel = this.yAxisLabel(); // the axis itself is drawn, not text
      this.plot?.destroy();
      this.plot = new uPlot(this.options(), data, this.container);
      return;
    }
    this.plot.setData(data);
  }

  resize() {
    if (this.plot) this.plot.setSize({ width: this.width(), height: this.height });
  }

  width() {
    return Math.max(280, this.container.clientWidth - 8);
  }

  yAxisLabel() {
    return `${this.yLabel ? `${this.yLabel}, ` : ""}${this.scale} scale`;
  }

  options() {
    return {
      title: this.title,
      width: this.width(),
      height: this.height,
      scales: { x: { time: false }, y: this.scale === "log" ? { distr: 3 } : {} },
      axes: [{ label: this.xLabel },
        { label: this.yAxisLabel(), size: 60, values: (u, ticks) => ticks.map(tick) }],
      legend: { live: true, markers: { width: 0, fill: (u, i) => lineSample(this.series[i - 1]) } },
      series: [{ label: this.xLabel }, ...this.series.map(seriesOptions)],
      hooks: { setLegend: [(u) => this.showLatest(u)], draw: [(u) => this.drawn(u)] },
    };
  }

  /** Off the chart, the legend shows each series' last value instead of blanks. */
  showLatest(u) {
    if (u.cursor.idx !== null && u.cursor.idx !== undefined) return; // the pointer's values
    if (this.latest.every((index, i) => u.legend.idxs[i] === index)) return;
    u.setLegend({ idxs: this.latest });
  }

  drawn(u) {
    if (!this.container.dataset.ready && u.data[0].length) {
      this.container.dataset.ready = performance.now().toFixed(0);
    }
  }
}

function lastIndex(column) {
  for (let i = column.length - 1; i >= 0; i -= 1) {
    if (column[i] !== null && column[i] !== undefined) return i;
  }
  return null;
}

/** A legend marker that is a piece of the series' line: solid, or dashed as drawn. */
function lineSample({ stroke, dash, width = 1.5, alpha = 1 }) {
  const colour = alpha < 1 ? withAlpha(stroke, alpha) : stroke;
  const pattern = dash
    ? `repeating-linear-gradient(90deg, ${colour} 0 ${dash[0]}px, ` +
      `transparent ${dash[0]}px ${dash[0] + dash[1]}px)`
    : `linear-gradient(${colour}, ${colour})`;
  return `${pattern} center / 100% ${Math.max(2, Math.round(width * 1.5))}px no-repeat`;
}

/** An axis label: small and large magnitudes as powers of ten (a log axis spans decades). */
function tick(value) {
  if (value === null || value === undefined) return "";
  const magnitude = Math.abs(value);
  if (magnitude !== 0 && (magnitude < 1e-3 || magnitude >= 1e5)) return value.toExponential(0);
  return String(Number(value.toPrecision(3)));
}

function seriesOptions({ label, stroke, width = 1.5, dash, points = false, alpha = 1 }) {
  return {
    label,
    stroke: alpha < 1 ? withAlpha(stroke, alpha) : stroke,
    width,
    dash,
    spanGaps: true, // columns are joined across x values, so gaps are expected
    // Dots where there is room for them (uPlot's own test), never for thousands of epochs.
    points: points ? { size: 5, fill: stroke } : { show: false },
    value: (u, v) => (v === null || v === undefined ? "–" : Number(v.toPrecision(4))),
  };
}

function withAlpha(hex, alpha) {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255},${(n >> 8) & 255},${n & 255},${alpha})`;
}

/** Align several [x, ...ys] tables on one sorted x axis (nulls where a table has no value). */
export function join(tables) {
  const xs = [...new Set(tables.flatMap((table) => table[0]))].sort((a, b) => a - b);
  const position = new Map(xs.map((x, i) => [x, i]));
  const out = [xs];
  for (const [x, ...columns] of tables) {
    for (const values of columns) {
      const column = new Array(xs.length).fill(null);
      x.forEach((value, i) => { column[position.get(value)] = values[i]; });
      out.push(column);
    }
  }
  return out;
}

export const STYLE = { TRAIN, VAL };
