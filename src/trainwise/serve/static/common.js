// Helpers shared by the dashboard's pages: API calls, DOM building, formatting, live streams.

/** fetch() a JSON API; throws an Error carrying the server's message on failure. */
export async function api(path, options = {}) {
  const init = { headers: { Accept: "application/json" }, ...options };
  if (options.body !== undefined) {
    init.method = options.method || "POST";
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(options.body);
  }
  const response = await fetch(path, init);
  const text = await response.text();
  const data = text ? JSON.parse(text) : {};
  if (!response.ok) {
    throw new Error(describeError(data) || `${response.status} ${response.statusText}`);
  }
  return data;
}

/** The message of a FastAPI error: a string, or validation errors as "field: message". */
function describeError(data) {
  if (typeof data.detail === "string") return data.detail;
  if (Array.isArray(data.detail)) {
    return data.detail.map((e) => `${(e.loc || []).slice(1).join(".")}: ${e.msg}`).join("; ");
  }
  return "";
}

/** Listen to a server-sent event stream; handlers maps event names to functions of the data.
 *  The browser reconnects by itself after a dropped connection, and the first event after a
 *  reconnect is a fresh snapshot, so nothing is lost. */
export function listen(path, handlers) {
  const source = new EventSource(path);
  for (const [name, handle] of Object.entries(handlers)) {
    source.addEventListener(name, (event) => handle(JSON.parse(event.data)));
  }
  return source;
}

/** el("td", {class: "x"}, "text", child, ...): a DOM element. Text is never parsed as HTML. */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "style" && typeof value === "object") Object.assign(node.style, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function byId(id) {
  return document.getElementById(id);
}

/** A number for people: 4 significant digits, no exponent for ordinary sizes. */
export function fmt(value, digits = 4) {
  if (value === null || value === undefined) return "–";
  if (typeof value !== "number") return String(value);
  if (Number.isInteger(value)) return value.toLocaleString("en");
  const magnitude = Math.abs(value);
  if (magnitude !== 0 && (magnitude < 1e-3 || magnitude >= 1e6)) return value.toExponential(2);
  return Number(value.toPrecision(digits)).toString();
}

export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

export function fmtTime(iso) {
  if (!iso) return "–";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

export function fmtBytes(bytes) {
  const units = ["B", "KB", "MB", "GB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit ? value.toFixed(1) : value} ${units[unit]}`;
}

/** The status shown for a run: the server reports a run whose process is gone as "interrupted". */
export function displayStatus(run) {
  if (run.status === "running" && run.alive === false) return "interrupted";
  return run.status || "unknown";
}

export function statusBadge(run) {
  const status = displayStatus(run);
  const title = status === "interrupted"
    ? `its process is gone (killed?); resume it: ${run.resume_command || "trainwise resume " + run.id}`
    : (run.reason || null);
  return el("span", { class: `badge status-${status}`, title }, status);
}

export function bestText(run) {
  if (run.best_value === null || run.best_value === undefined) return "–";
  return `${run.monitor} ${fmt(run.best_value)} @ ${run.best_epoch}`;
}

/** Show an error (or clear it with null) in a page's message box. */
export function showMessage(box, message, kind = "error") {
  box.replaceChildren();
  box.className = `message ${kind}`;
  box.hidden = !message;
  if (message) box.append(el("pre", {}, message));
}
