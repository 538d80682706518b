// The comparison page: the runs' curves overlaid (training dashed, validation solid, one
// colour per run) and a table of the settings in which their configs differ.

import { LiveChart, colour, join } from "./charts.js";
import { api, bestText, byId, el, fmt, fmtDuration, showMessage, statusBadge } from "./common.js";

const ids = new URLSearchParams(window.location.search).getAll("ids");

function overlay(container, title, runs, key) {
  const series = runs.flatMap((entry, i) => [
    { label: `${entry.label} · training`, stroke: colour(i), width: 1.5, dash: [5, 4] },
    { label: `${entry.label} · validation`, stroke: colour(i), width: 2 },
  ]);
  // The loss axis follows the run page's rule and the person's choice there (scale.js).
  const chart = new LiveChart(container, { title, series, height: 300, yLabel: key,
    scaleKey: key === "loss" ? "loss" : null });
  chart.setData(join(runs.map(({ history }) => [
    history.map((record) => record.epoch),
    history.map((record) => record[key] ?? null),
    history.map((record) => record[`val_${key}`] ?? null),
  ])));
}

function settingsTable(settings, runs) {
  const keys = Object.keys(settings);
  const head = el("tr", {}, el("th", {}, "setting"), runs.map((entry, i) =>
    el("th", { style: { color: colour(i) } }, entry.run.id)));
  const rows = keys.map((key) => el("tr", {}, el("td", {}, el("code", {}, key)),
    runs.map((entry) => {
      const value = settings[key][entry.run.id];
      return el("td", {}, value === undefined ? "(not set)" : JSON.stringify(value));
    })));
  byId("settings").replaceChildren(el("thead", {}, head), el("tbody", {},
    keys.length ? rows : [el("tr", {}, el("td", { colspan: runs.length + 1 }, "The configs are the same."))]));
}

function runsTable(runs) {
  byId("runs").replaceChildren(
    el("thead", {}, el("tr", {}, ["run", "label", "status", "best", "epochs", "duration"].map((h) => el("th", {}, h)))),
    el("tbody", {}, runs.map((entry, i) => el("tr", {},
      el("td", {}, el("a", { href: `/runs/${encodeURIComponent(entry.run.id)}`, style: { color: colour(i) } }, entry.run.id)),
      el("td", {}, entry.label), el("td", {}, statusBadge(entry.run)), el("td", {}, bestText(entry.run)),
      el("td", { class: "num" }, fmt(entry.run.epochs)), el("td", { class: "num" }, fmtDuration(entry.run.duration_s))))));
}

async function main() {
  if (ids.length < 2) {
    showMessage(byId("message"), "Pick two runs or more on the runs page to compare them.");
    return;
  }
  const query = ids.map((id) => `ids=${encodeURIComponent(id)}`).join("&");
  const { runs, settings } = await api(`/api/compare?${query}`);
  overlay(byId("loss-chart"), "Loss", runs, "loss");
  const metrics = new Set(runs.flatMap(({ history }) => Object.keys(history[0] || {}))
    .filter((key) => ["accuracy", "pixel_accuracy", "mae"].includes(key)));
  for (const name of metrics) {
    const box = el("div", { class: "chart" });
    byId("metric-charts").append(box);
    overlay(box, name, runs, name);
  }
  settingsTable(settings, runs);
  runsTable(runs);
}

main().catch((error) => showMessage(byId("message"), error.message));
