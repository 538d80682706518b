// The run page's boxes: results, confusion matrices, model, labels, diagnosis, plots, config.
// Each takes the plain data the API sends and fills its panel; text is never parsed as HTML.

import { byId, el, fmt, fmtBytes } from "./common.js";

const SPLIT_NAMES = { train: "training", val: "validation", test: "test" };
// Final metrics worth a column, per task; the rest are in the report.
const RESULT_METRICS = {
  classification: ["accuracy", "balanced_accuracy", "macro_f1", "pr_auc", "n"],
  regression: ["mae", "rmse", "r2", "n"],
  segmentation: ["pixel_accuracy", "mean_iou", "pixels"],
};

export function renderResults(metrics, task) {
  const splits = Object.keys(metrics || {}).filter((split) => metrics[split]);
  byId("results-panel").hidden = splits.length === 0;
  if (!splits.length) return;
  const keys = (RESULT_METRICS[task] || []).filter((key) => splits.some((s) => key in metrics[s]));
  const table = el("table", { class: "small" },
    el("thead", {}, el("tr", {}, el("th", {}, "split"), keys.map((key) => el("th", {}, key)))),
    el("tbody", {}, splits.map((split) => el("tr", {},
      el("th", {}, SPLIT_NAMES[split] || split),
      keys.map((key) => el("td", { class: "num" }, fmt(metrics[split][key])))))));
  byId("results").replaceChildren(table);
}

/** views: {val, test}, each {split, epoch, classes, rows: [{name, total, cells}]}. */
export function renderConfusion(views) {
  const order = ["test", "val"].filter((split) => views && views[split]);
  byId("confusion-panel").hidden = order.length === 0;
  byId("confusion").replaceChildren(...order.map((split) => confusionTable(views[split])));
}

function confusionTable(view) {
  const caption = view.epoch
    ? `${SPLIT_NAMES[view.split]}, after epoch ${view.epoch} (live)`
    : `${SPLIT_NAMES[view.split] || view.split} split, final model`;
  const head = el("tr", {}, el("th", { class: "corner" }, "true ╲ predicted"),
    view.classes.map((name) => el("th", { scope: "col" }, name)), el("th", {}, "rows"),
    el("th", { title: "share of the true class's rows predicted right (recall)" }, "accuracy"));
  const rows = view.rows.map((row) => el("tr", {},
    el("th", { scope: "row" }, row.name),
    row.cells.map((cell) => el("td", {
      class: `cell ${cell.correct ? "correct" : "error"}`,
      style: { background: cell.background, color: cell.colour },
      title: `true ${row.name}, predicted ${view.classes[row.cells.indexOf(cell)]}`,
    }, el("span", { class: "count" }, cell.count),
    el("span", { class: "share" }, `${(cell.share * 100).toFixed(1)} %`))),
    el("td", { class: "num sub" }, row.total),
    el("td", {
      class: "num accuracy",
      title: row.confused_with ? `most often mistaken for ${row.confused_with} (${row.confused_count})` : null,
    }, row.accuracy === null || row.accuracy === undefined ? "–" : `${(row.accuracy * 100).toFixed(1)} %`)));
  return el("table", { class: `confusion split-${view.split}`, "data-split": view.split },
    el("caption", {}, caption), el("thead", {}, head), el("tbody", {}, rows));
}

/** topLosses: {split, split_name, errors, rows: [{rank, item, actual, predicted, confidence,
 *  loss}], image: URL of the drawn examples or null}; null until the run has finished. */
export function renderTopLosses(topLosses) {
  byId("top-losses-panel").hidden = !topLosses;
  if (!topLosses) return;
  const caption = `${topLosses.split_name} split: ${topLosses.rows.length} of ${topLosses.errors} errors`;
  const table = el("table", { class: "small top-losses-table" },
    el("caption", {}, caption),
    el("thead", {}, el("tr", {}, ["#", "item", "actual", "predicted", "confidence", "loss"]
      .map((name) => el("th", {}, name)))),
    el("tbody", {}, topLosses.rows.map((row) => el("tr", {},
      el("td", { class: "num" }, row.rank), el("td", {}, el("code", {}, row.item)),
      el("td", {}, row.actual), el("td", {}, row.predicted),
      el("td", { class: "num" }, fmt(row.confidence)), el("td", { class: "num" }, fmt(row.loss))))));
  const image = topLosses.image
    ? enlargeable(topLosses.image, "top losses: actual → predicted (loss)") : null;
  byId("top-losses").replaceChildren(...(topLosses.rows.length ? [image, table]
    : [el("p", { class: "hint" }, "No misclassified rows in this split.")]));
}

export function renderModel(model, status) {
  if (!model) {
    byId("model").replaceChildren(el("p", { class: "hint" }, "No model summary yet."));
    return;
  }
  const facts = [
    ["parameters", `${fmt(model.total_params)} (${fmt(model.trainable_params)} trainable)`],
    ["input shape", model.input_shape ? `[${model.input_shape.map((d) => d ?? "N").join(", ")}]` : "–"],
    ["labels", model.classes ? model.classes.join(", ") : "– (regression)"],
    ["best epoch", model.best_epoch ? `${model.best_epoch} (${model.monitor} ${fmt(model.best_value)})` : "–"],
    ["stop reason", status?.stop_reason || "–"],
    ...(status?.reason && status.reason !== status.stop_reason ? [["failure", status.reason]] : []),
  ];
  const list = el("dl", { class: "facts" }, facts.map(([key, value]) => [el("dt", {}, key), el("dd", {}, value)]));
  const layers = el("table", { class: "small layers" },
    el("thead", {}, el("tr", {}, el("th", {}, "layer"), el("th", {}, "type"),
      el("th", {}, "output"), el("th", {}, "parameters"))),
    el("tbody", {}, model.layers.map((layer) => el("tr", {},
      el("td", {}, layer.name), el("td", {}, layer.type),
      el("td", {}, `[${layer.output_shape.join(", ")}]`),
      el("td", { class: "num" }, fmt(layer.params))))));
  const files = el("ul", { class: "files" }, model.checkpoints.map((file) => el("li", {},
    el("code", {}, file.name), ` ${fmtBytes(file.bytes)}`)));
  byId("model").replaceChildren(list, layers, el("h3", {}, "Checkpoint files"),
    model.checkpoints.length ? files : el("p", { class: "hint" }, "none yet"));
}

export function renderLabels(labels) {
  byId("labels-panel").hidden = !labels;
  if (!labels) return;
  const splits = Object.keys(labels.counts);
  const table = el("table", { class: "small" },
    el("thead", {}, el("tr", {}, el("th", {}, "label"), splits.map((s) => el("th", {}, SPLIT_NAMES[s] || s)))),
    el("tbody", {}, labels.classes.map((name) => el("tr", {}, el("td", {}, name),
      splits.map((split) => el("td", { class: "num" }, fmt(labels.counts[split][name])))))));
  byId("labels").replaceChildren(table);
}

export function renderFindings(findings) {
  const box = byId("findings");
  if (!findings) {
    box.replaceChildren(el("p", { class: "hint" }, "The diagnosis is read from the curves when the run ends."));
    return;
  }
  const items = findings.items.map((finding) => el("div", { class: `finding ${finding.severity}` },
    el("h3", {}, el("span", { class: "severity" }, finding.severity), " ", finding.title),
    el("p", {}, finding.message),
    finding.advice.length ? el("ul", {}, finding.advice.map((line) => el("li", {}, el("code", {}, line)))) : null));
  box.replaceChildren(el("p", { class: "hint" }, `From ${findings.source}.`), ...items);
}

export function renderFiles(files) {
  byId("report").href = files ? files.report : "#";
  const plots = files ? files.plots : [];
  byId("plots").replaceChildren(...(plots.length
    ? plots.map((url) => el("figure", {}, enlargeable(url, url.split("/").pop()),
      el("figcaption", { class: "sub" }, url.split("/").pop())))
    : [el("p", { class: "hint" }, "Plots are drawn when the run finishes.")]));
}

/** An image that opens full size in the page's dialog on click (a link, for a new tab). */
function enlargeable(url, alt) {
  const src = `${url}?v=${Date.now()}`; // the run redraws its plots under the same names
  return el("a", {
    href: url, target: "_blank", rel: "noopener", class: "enlarge",
    onclick: (event) => {
      if (event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
      event.preventDefault();
      showFullSize(url, src, alt);
    },
  }, el("img", { src, alt, loading: "lazy" }));
}

function showFullSize(url, src, caption) {
  byId("lightbox-image").src = src;
  byId("lightbox-image").alt = caption;
  byId("lightbox-caption").textContent = caption;
  byId("lightbox-link").href = url;
  byId("lightbox").showModal(); // Escape closes it, as does a click beside the image
}

byId("lightbox").addEventListener("click", (event) => {
  if (event.target === event.currentTarget) event.currentTarget.close();
});

export function renderConfig(config) {
  byId("config").textContent = config ? config.yaml : "";
}
