// The verdict region: VALID / NOT VALID / CANNOT TELL in words, icon and colour, what the
// proof is about where the service discloses it, why when it is not valid, and the
// `seen` warning. It carries data-result and data-reason for kiosks and tests, and is
// emptied before every new check: nothing about one holder outlives the next scan.
import { localeOf } from "../common/i18n.js";

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
  return new Intl.DateTimeFormat(localeOf(lang), options).format(date);
}

/** A card's end date (YYYY-MM-DD, a calendar day) in the reader's language. */
function formatDay(day, lang) {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day ?? "")) return day;
  const date = new Date(`${day}T00:00:00Z`);
  if (Number.isNaN(date.getTime())) return day;
  return new Intl.DateTimeFormat(localeOf(lang), { dateStyle: "long", timeZone: "UTC" }).format(date);
}

/** "1 second", "30 seconds", "30 secondes": the number with its unit, in the reader's grammar. */
function formatSeconds(seconds, lang) {
  const n = Number(seconds);
  if (!Number.isFinite(n)) return String(seconds);
  return new Intl.NumberFormat(localeOf(lang), { style: "unit", unit: "second", unitDisplay: "long" }).format(n);
}

/** `base`_one / `base`_other by the language's plural rules ({n} filled). */
function counted(t, lang, base, n) {
  const form = new Intl.PluralRules(localeOf(lang)).select(n);
  try {
    return t(`${base}_${form}`, { n });
  } catch {
    return t(`${base}_other`, { n });
  }
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
  if (result.reason) {
    const filled = { ...extra, wait: formatSeconds(extra.seconds, lang) };
    region.append(el("p", { class: "reason" }, reasonText(result.reason, t, filled)));
  }
  const details = el("dl");
  const row = (key, value, cls) => {
    if (value === null || value === undefined || value === "") return;
    details.append(el("dt", {}, t(key)), el("dd", cls ? { class: cls } : {}, value));
  };
  row("entitlement", result.entitlement?.label);
  row("holder", result.holder?.name, "holder");
  row("card_number", result.attributes?.card_number);
  row("card_valid_until", formatDay(result.attributes?.card_valid_until, lang));
  if (result.valid_until) row("valid_until", formatTime(result.valid_until, lang));
  if (details.childElementCount) region.append(details);
  if (result.seen && result.seen.count > 0) {
    const times = counted(t, lang, "seen_times", result.seen.count);
    const orgs = counted(t, lang, "seen_orgs", result.seen.organisations);
    region.append(el("p", { class: "seen" }, t("seen_warning", { times, orgs })));
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
