// The verdict region: VALID / NOT VALID / CANNOT TELL in words, icon and colour, what the
// proof is about where the service discloses it, why when it is not valid, and the
// `seen` warning. It carries data-result and data-reason for kiosks and tests, and is
// emptied before every new check: nothing about one holder outlives the next scan.
const SVG = "http://www.w3.org/2000/svg";
const ICONS = {
  valid: ["M6 13l4 4 8-9"], // a tick
  invalid: ["M7 7l10 10", "M17 7L7 17"], // a cross
  undetermined: ["M9 9a3 3 0 1 1 4 2.8c-.7.4-1 1-1 1.7V15", "M12 18.5v.5"], // a question mark
};
const WORDS = { valid: "result_valid", invalid: "result_invalid", undetermined: "result_undetermined" };
/** How long a verdict stays on screen when nobody checks anything else. */
export const CLEAR_AFTER_MS = 120_000;
let clearTimer = null;

function el(tag, attrs = {}, text = null) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== null) node.textContent = text;
  return node;
}

function icon(result) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("width", "32");
  svg.setAttribute("height", "32");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  for (const d of ICONS[result]) {
    const path = document.createElementNS(SVG, "path");
    path.setAttribute("d", d);
    path.setAttribute("fill", "none");
    path.setAttribute("stroke", "currentColor");
    path.setAttribute("stroke-width", "3");
    path.setAttribute("stroke-linecap", "round");
    path.setAttribute("stroke-linejoin", "round");
    svg.append(path);
  }
  const wrap = el("span", { class: "verdict-icon" });
  wrap.append(svg);
  return wrap;
}

function reset(region) {
  clearTimeout(clearTimer);
  region.removeAttribute("data-result");
  region.removeAttribute("data-reason");
  region.replaceChildren();
}

/** Back to "Ready to check." (and no trace of the last holder in the page). */
export function clearVerdict(region, t) {
  reset(region);
  region.append(el("p", { class: "verdict-idle" }, t("verdict_idle")));
}

export function showBusy(region, t) {
  reset(region);
  region.append(el("p", { class: "verdict-busy" }, t("verdict_busy")));
}

function formatTime(iso, lang, withDate = true) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  const options = withDate ? { dateStyle: "medium", timeStyle: "short" } : { timeStyle: "short" };
  return new Intl.DateTimeFormat(lang, options).format(date);
}

function reasonText(reason, t, extra) {
  try {
    return t(`reason_${reason}`, extra);
  } catch {
    return t("reason_other", { reason });
  }
}

/**
 * Show `result` (the service's or the device's verification result).
 * `extra` fills reason texts ({seconds}, {status}). The verdict is cleared at `clearAt`
 * (epoch ms; a redraw in another language keeps the first deadline), and `onCleared`
 * then lets the caller drop its own copy, so that nothing can draw it again.
 */
export function showVerdict(region, result, { t, lang, extra = {}, clearAt = Date.now() + CLEAR_AFTER_MS, onCleared }) {
  reset(region);
  region.dataset.result = result.result;
  region.dataset.reason = result.reason ?? "";
  const head = el("div", { class: "verdict-head" });
  head.append(icon(result.result), el("p", { class: "verdict-word" }, t(WORDS[result.result])));
  region.append(head);
  if (result.reason) region.append(el("p", { class: "reason" }, reasonText(result.reason, t, extra)));
  const details = el("dl");
  const row = (key, value, cls) => {
    if (value === null || value === undefined || value === "") return;
    details.append(el("dt", {}, t(key)), el("dd", cls ? { class: cls } : {}, value));
  };
  row("entitlement", result.entitlement?.label);
  row("holder", result.holder?.name, "holder");
  row("card_number", result.attributes?.card_number);
  row("card_valid_until", result.attributes?.card_valid_until);
  if (result.valid_until) row("valid_until", formatTime(result.valid_until, lang));
  if (details.childElementCount) region.append(details);
  if (result.seen && result.seen.count > 0) {
    region.append(el("p", { class: "seen" }, t("seen_warning", result.seen)));
  }
  const at = formatTime(result.checked_at, lang, false);
  let how;
  if (!result.offline) how = t("how_online", { time: at });
  else if (result.status_list_age_s !== null && result.status_list_age_s !== undefined) {
    how = t("how_offline", { minutes: Math.floor(result.status_list_age_s / 60), time: at });
  } else how = t("how_offline_none", { time: at });
  region.append(el("p", { class: "how" }, how));
  clearTimer = setTimeout(() => {
    clearVerdict(region, t);
    onCleared?.();
  }, Math.max(0, clearAt - Date.now()));
}

let audio = null;

/** A short sound and vibration per result, to know it without looking. */
export function signal(result) {
  const pattern = { valid: [80], invalid: [200, 100, 200], undetermined: [400] }[result] ?? [];
  try {
    navigator.vibrate?.(pattern);
  } catch {
    // not on this device
  }
  const tones = { valid: [[880, 0, 0.12]], invalid: [[220, 0, 0.15], [220, 0.22, 0.15]], undetermined: [[440, 0, 0.3]] }[result];
  try {
    audio ??= new AudioContext();
    const start = audio.currentTime + 0.01;
    for (const [freq, offset, length] of tones ?? []) {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.frequency.value = freq;
      gain.gain.value = 0.15;
      osc.connect(gain).connect(audio.destination);
      osc.start(start + offset);
      osc.stop(start + offset + length);
    }
  } catch {
    // no audio output: the screen says it all the same
  }
}
