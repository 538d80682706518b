// The run page: live curves, Stop and Resume, and the run's record, kept current by the
// server's event stream (no polling of the database).

import { LiveChart, STYLE, batchPositions, colour, join, smooth } from "./charts.js";
import { api, byId, displayStatus, el, fmtDuration, listen, showMessage, statusBadge } from "./common.js";
import {
  renderConfig, renderConfusion, renderFiles, renderFindings, renderLabels, renderModel,
  renderResults, renderTopLosses,
} from "./run_panels.js";

const runId = decodeURIComponent(window.location.pathname.split("/").pop());
// History keys that are not a metric with a validation twin.
const NOT_METRICS = new Set(["epoch", "loss", "lr", "grad_norm", "epoch_time_s"]);
const HEADLINE_METRICS = ["accuracy", "pixel_accuracy", "mae"];

const state = { run: null, detail: {}, epochs: new Map(), batches: [] };
const charts = {
  loss: new LiveChart(byId("loss-chart"), {
    title: "Loss: per batch (faint), smoothed, and per epoch",
    yLabel: "loss",
    scaleKey: "loss",
    scaleFrom: [3, 4], // the epoch losses decide, as on the comparison page
    series: [
      { label: "batch", stroke: STYLE.TRAIN, width: 1, alpha: 0.25 },
      { label: "batch, smoothed", stroke: STYLE.TRAIN, width: 2 },
      { label: "training (epoch)", stroke: STYLE.TRAIN, width: 1, dash: [4, 4], points: true },
      { label: "validation (epoch)", stroke: STYLE.VAL, width: 2, points: true },
    ],
  }),
  lr: new LiveChart(byId("lr-chart"), {
    title: "Learning rate", yLabel: "lr", series: [{ label: "lr", stroke: colour(4), width: 2 }],
  }),
  metrics: new Map(), // metric name -> LiveChart
};
let redrawQueued = false;

// ------------------------------------------------------------------ curves
function history() {
  return [...state.epochs.values()].sort((a, b) => a.epoch - b.epoch);
}

function metricNames(records) {
  const keys = new Set(records.flatMap((record) => Object.keys(record)));
  const twins = [...keys].filter((key) => !NOT_METRICS.has(key) && !key.startsWith("val_")
    && keys.has(`val_${key}`));
  return twins.length ? twins : HEADLINE_METRICS.filter((key) => keys.has(key));
}

function metricChart(name) {
  if (!charts.metrics.has(name)) {
    const box = el("div", { class: "chart", id: `metric-${name}` });
    byId("metric-charts").insertBefore(box, byId("lr-chart")); // the rate stays last
    charts.metrics.set(name, new LiveChart(box, {
      title: name,
      yLabel: name,
      series: [
        { label: name, stroke: STYLE.TRAIN, width: 2, points: true },
        { label: `val_${name}`, stroke: STYLE.VAL, width: 2, points: true },
      ],
    }));
  }
  return charts.metrics.get(name);
}

function redraw() {
  redrawQueued = false;
  const records = history();
  const epochs = records.map((record) => record.epoch);
  const column = (key) => records.map((record) => record[key] ?? null);
  const raw = state.batches.map((batch) => batch.loss);
  charts.loss.setData(join([
    [batchPositions(state.batches), raw, smooth(raw)],
    [epochs, column("loss"), column("val_loss")],
  ]));
  for (const name of metricNames(records)) {
    metricChart(name).setData([epochs, column(name), column(`val_${name}`)]);
  }
  charts.lr.setData([epochs, column("lr")]);
  const box = byId("loss-chart");
  box.dataset.batches = String(state.batches.length);
  box.dataset.epochs = String(records.length);
  renderProgress();
}

function queueRedraw() {
  if (!redrawQueued) {
    redrawQueued = true;
    requestAnimationFrame(redraw);
  }
}

function addEpochs(records) {
  for (const record of records) state.epochs.set(record.epoch, record);
}

function addBatches(rows) {
  const last = state.batches.length ? state.batches[state.batches.length - 1].step : 0;
  state.batches.push(...rows.filter((row) => row.step > last)); // repeats are skipped
}

// ------------------------------------------------------------------ status and controls
/** Ended by its own decision (early stopping, the NaN guard) before the planned epochs;
 *  a run a person stopped is "stopped", and is not meant here. */
function stoppedEarly(run, status) {
  const done = run.epochs || 0;
  return ["finished", "diverged"].includes(displayStatus(run)) && Boolean(status.stop_reason)
    && done < (status.epochs_planned || 0);
}

/** The total number of epochs offered for Resume, or null when only the person can say.
 *  A run stopped or interrupted before its plan continues to the plan. After early
 *  stopping, the plan is what it stopped short of: offer one more patience window. The
 *  early-stopping count continues on resume, so training goes on only while the monitored
 *  value still improves; more epochs would mostly be cut short the same way. */
function resumeSuggestion(run, status, config) {
  const done = run.epochs || 0;
  if (displayStatus(run) === "running") return null;
  if (stoppedEarly(run, status)) {
    const patience = config?.values?.train?.early_stopping?.patience;
    return done + (patience > 0 ? patience : Math.max(1, Math.ceil(done / 2)));
  }
  return status.epochs_planned > done ? status.epochs_planned : null;
}

function renderProgress() {
  const run = state.run || {};
  const status = state.detail.status || {};
  const planned = status.epochs_planned;
  const done = run.epochs ?? state.epochs.size;
  const step = state.batches.length ? state.batches[state.batches.length - 1].step : 0;
  const early = stoppedEarly(run, status);
  const where = early ? `stopped early at epoch ${done} (of ${planned} planned)`
    : `epoch ${done}${planned ? ` of ${planned}` : ""}`;
  byId("progress").textContent = `${where}${step ? ` · step ${step}` : ""} · ` +
    `${fmtDuration(run.duration_s)} of training`;
  byId("stop-reason").textContent = early ? status.stop_reason : "";
}

/** Fill the Resume box with the suggestion, unless the person has typed their own. */
function offerResume(suggestion) {
  const box = byId("resume-epochs");
  const text = suggestion === null ? "" : String(suggestion);
  if (box.value === "" || box.value === box.dataset.suggested) box.value = text;
  box.dataset.suggested = text;
  box.placeholder = state.run?.epochs ? `> ${state.run.epochs}` : "";
}

function renderRun() {
  const run = state.run;
  if (!run) return;
  const status = displayStatus(run);
  document.body.dataset.status = status;
  byId("status").replaceChildren(statusBadge(run));
  byId("run-name").textContent = run.name || "";
  const running = status === "running";
  byId("stop").disabled = !running;
  byId("resume").disabled = running;
  offerResume(resumeSuggestion(run, state.detail.status || {}, state.detail.config));
  renderProgress();
}

function renderDetail(detail) {
  state.detail = detail;
  if (detail.run) state.run = detail.run;
  renderRun();
  renderResults(detail.metrics, state.run?.task);
  renderConfusion(detail.confusion);
  renderTopLosses(detail.top_losses);
  renderModel(detail.model, detail.status);
  renderLabels(detail.labels);
  renderFindings(detail.findings);
  renderFiles(detail.files);
  renderConfig(detail.config);
}

async function stopRun() {
  byId("stop").disabled = true;
  try {
    await api(`/api/runs/${encodeURIComponent(runId)}/stop`, { body: {} });
    showMessage(byId("message"), "Stopping after the current batch; the run saves its checkpoint…", "info");
  } catch (error) {
    showMessage(byId("message"), error.message);
    renderRun();
  }
}

async function resumeRun() {
  const text = byId("resume-epochs").value.trim();
  byId("resume").disabled = true;
  try {
    const launch = await api(`/api/runs/${encodeURIComponent(runId)}/resume`,
      { body: { epochs: text === "" ? null : Number(text) } });
    showMessage(byId("message"), `Resuming (process ${launch.pid})…`, "info");
    watchLaunch(launch.id);
  } catch (error) {
    showMessage(byId("message"), error.message);
    renderRun();
  }
}

/** Until the resumed run reports "running": a launch that ends first shows its log. The
 *  launch lives in the server's memory, so this asks no database. */
function watchLaunch(launchId) {
  const timer = setInterval(async () => {
    if (state.run?.status === "running") {
      clearInterval(timer);
      showMessage(byId("message"), null);
      return;
    }
    const launch = await api(`/api/launches/${launchId}`).catch(() => null);
    if (launch && launch.state === "exited") {
      clearInterval(timer);
      if (launch.returncode !== 0) {
        showMessage(byId("message"), `Resume failed (exit code ${launch.returncode}):\n\n${launch.log_tail}`);
      }
      renderRun();
    }
  }, 1000);
}

// ------------------------------------------------------------------ the event stream
function connect() {
  const source = listen(`/api/events/runs/${encodeURIComponent(runId)}`, {
    snapshot: (snapshot) => {
      state.epochs.clear();
      state.batches = [];
      addEpochs(snapshot.history);
      addBatches(snapshot.batches);
      renderDetail(snapshot);
      queueRedraw();
    },
    update: ({ epochs = [], batches = [] }) => {
      addEpochs(epochs);
      addBatches(batches);
      queueRedraw();
    },
    run: (run) => {
      state.run = run;
      renderRun();
    },
    confusion: (views) => {
      // The final validation matrix (metrics.json) outranks the live one.
      if (!state.detail.metrics?.val) {
        state.detail.confusion = { ...state.detail.confusion, ...views };
        renderConfusion(state.detail.confusion);
      }
    },
    detail: renderDetail,
  });
  source.onopen = () => byId("live").classList.remove("offline");
  source.onerror = () => byId("live").classList.add("offline");
}

byId("run-id").textContent = runId;
document.title = `trainwise · ${runId}`;
byId("stop").addEventListener("click", stopRun);
byId("resume").addEventListener("click", resumeRun);
connect();
