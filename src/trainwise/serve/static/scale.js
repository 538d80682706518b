// The y scale of a chart, log or linear: one rule for every chart on every page, and a
// choice (auto, log, linear) that a person can make and that holds on every page.

// Above this ratio between the largest and smallest deciding value, the axis is logarithmic:
// a curve that falls 20-fold would spend its last stretch in the bottom 5 % of a linear axis.
export const LOG_SPAN = 20;
export const CHOICES = ["auto", "log", "linear"];

/**
 * "log" or "linear" for data [x, ...ys]. A log axis needs every drawn value positive; under
 * "auto" it is used when the columns numbered in `deciding` (indices into data) span more
 * than LOG_SPAN. The run page decides its loss axis on the epoch losses, not the noisy batch
 * losses, so a run's loss axis is the same there and on the comparison page.
 */
export function chooseScale(data, deciding, choice = "auto") {
  if (choice === "linear" || !data.slice(1).every(allPositive)) return "linear";
  if (choice === "log") return "log";
  const [low, high] = extent(deciding.map((i) => data[i]));
  return low > 0 && high / low > LOG_SPAN ? "log" : "linear";
}

function allPositive(column) {
  return column.every((v) => v === null || v === undefined || !Number.isFinite(v) || v > 0);
}

/** The smallest and largest finite value of the columns (a loop: spreading 10^5 values
 *  into Math.min overflows the call stack). */
function extent(columns) {
  let low = Infinity;
  let high = -Infinity;
  for (const column of columns) {
    for (const v of column) {
      if (v === null || v === undefined || !Number.isFinite(v)) continue;
      if (v < low) low = v;
      if (v > high) high = v;
    }
  }
  return [low, high];
}

/** The stored choice for charts of `key` ("loss"): the same on the run and compare pages. */
export function storedChoice(key) {
  const choice = window.localStorage.getItem(`trainwise.scale.${key}`);
  return CHOICES.includes(choice) ? choice : "auto";
}

/** A "y axis: auto | log | linear" select that stores the choice and calls onChange(choice). */
export function scaleSelect(key, onChange) {
  const select = document.createElement("select");
  select.className = "scale-choice";
  select.title = `auto: log when every value is positive and the ${key} spans more than a ` +
    `factor of ${LOG_SPAN}, else linear`;
  for (const choice of CHOICES) select.append(new Option(choice, choice));
  select.value = storedChoice(key);
  select.addEventListener("change", () => {
    window.localStorage.setItem(`trainwise.scale.${key}`, select.value);
    onChange(select.value);
  });
  const label = document.createElement("label");
  label.className = "inline chart-tools";
  label.append("y axis ", select);
  return label;
}
