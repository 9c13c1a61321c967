// The verifier app: set up the device once, then check proofs by camera, by a scanner
// typing into the focused field, or by typing a code or a card number. Online it asks
// the service (POST /v1/verify, /v1/parking-cards/check); with the network gone it
// verifies QR proofs itself, with the same rules (web/src/common/core).
import { undetermined, verifyOffline } from "../common/core/index.js";
import { createI18n } from "../common/i18n.js";
import { registerServiceWorker } from "../common/pwa.js";
import { ApiError, OfflineError, checkCard, verifyCode, verifyToken, whoami } from "./api.js";
import { OfflineData } from "./data.js";
import { forgetDevice, loadDevice, saveDevice } from "./device.js";
import { classify } from "./input.js";
import { Scanner, warmUp } from "./scanner.js";
import de from "./strings/de.json";
import en from "./strings/en.json";
import fr from "./strings/fr.json";
import nl from "./strings/nl.json";
import { CLEAR_AFTER_MS, clearVerdict, showBusy, showVerdict, signal } from "./verdict.js";

const REFRESH_EVERY_MS = 30_000;
const $ = (id) => document.getElementById(id);
const i18n = createI18n({ de, en, fr, nl }, "statuspass.verifier.lang");
const t = i18n.t;
const data = new OfflineData();
let device = loadDevice();
let scanner = null;
let lastVerdict = null; // re-rendered when the language changes, dropped on the next check
let loaded = null; // what an earlier visit stored, being read
let checks = 0; // counts checks started: only the latest one's answer is shown

function say(id, key, vars) {
  const node = $(id);
  node.hidden = !key;
  node.textContent = key ? t(key, vars) : "";
}

function showDevice() {
  const setUp = device !== null;
  $("setup").hidden = setUp;
  $("check").hidden = !setUp;
  $("forget").hidden = !setUp;
  $("refresh").hidden = !setUp;
  $("device").hidden = !setUp;
  if (setUp) {
    const { name, label } = device.client ?? {};
    $("device").textContent = label ? t("device_of", { org: name, label }) : (name ?? "");
    $("input").focus();
  } else {
    $("api-key").focus();
  }
  showNet();
}

let announcedOnline = null;

/** The footer's line, kept current but silent; a screen reader hears it only when the
 * device goes offline or comes back (not each time the minutes move). */
function showNet() {
  const minutes = data.listAgeMinutes();
  let key;
  if (navigator.onLine) key = data.jwks ? "net_online" : "net_online_never";
  else key = minutes === null ? "net_offline_never" : "net_offline";
  const text = t(key, { minutes: navigator.onLine ? data.refreshedMinutesAgo() : minutes });
  $("net").textContent = text;
  if (announcedOnline !== null && announcedOnline !== navigator.onLine) $("net-said").textContent = text;
  announcedOnline = navigator.onLine;
}

// -- setting up and forgetting the device ---------------------------------------------
async function setUp(event) {
  event.preventDefault();
  const key = $("api-key").value.trim();
  if (!key) return say("setup-error", "setup_bad_key");
  say("setup-error", "setup_checking");
  try {
    const client = await whoami(key, i18n.lang);
    if (client.role !== "verifier") return say("setup-error", "setup_not_verifier");
    saveDevice(key, client);
    device = loadDevice();
    $("api-key").value = "";
    say("setup-error", null);
    showDevice();
    await data.refresh({ force: true });
    showNet();
  } catch (exc) {
    if (exc instanceof OfflineError) say("setup-error", "setup_offline");
    else if (exc instanceof ApiError && exc.status === 401) say("setup-error", "setup_bad_key");
    else say("setup-error", "setup_failed", { status: exc.status ?? "?" });
  }
}

async function forget() {
  if (!window.confirm(t("forget_confirm"))) return;
  scanner?.stop();
  forgetDevice();
  checks += 1;
  await data.clear();
  device = null;
  lastVerdict = null;
  clearVerdict($("verdict"), t);
  showDevice();
}

// -- checking -----------------------------------------------------------------------------
/** The device's own verdict, from what it stored (marked `offline` for the screen). */
async function offlineVerdict(token) {
  await loaded;
  const nowMs = Date.now();
  if (!data.ready) return { ...undetermined("no_offline_data", nowMs), offline: true };
  const result = await verifyOffline(token, {
    jwks: data.jwks,
    statusLists: data.lists,
    nowMs,
    registry: data.registry,
    allowedTypes: device.client?.types ?? null,
    skewS: data.metadata?.clock_skew_s ?? 60,
    lang: i18n.lang,
  });
  return { ...result, offline: true };
}

/** The verdict for `input` (already classified): the service's while it answers. */
async function verdictFor(input) {
  const { apiKey } = device;
  const lang = i18n.lang;
  try {
    if (input.kind === "token") {
      if (!navigator.onLine) return await offlineVerdict(input.value);
      return await verifyToken(apiKey, lang, input.value);
    }
    if (input.kind === "code") return await verifyCode(apiKey, lang, input.value);
    return await checkCard(apiKey, lang, input.value);
  } catch (exc) {
    const now = Date.now();
    if (exc instanceof OfflineError) {
      // a proof carries its own evidence; a code or a card number is only a reference
      if (input.kind === "token") return offlineVerdict(input.value);
      return { ...undetermined("offline_needs_network", now), offline: true };
    }
    if (!(exc instanceof ApiError)) throw exc;
    // revoked or replaced: this key will never work again here (see keyRejected)
    if (exc.status === 401) return { ...undetermined("unauthenticated", now), keyRejected: true };
    if (exc.status === 403) return { ...undetermined("not_permitted", now), result: "invalid" };
    const busy = exc.status === 429 || exc.status >= 500;
    // The service cannot answer now: a proof is checked on the device if it can be,
    // else the counter learns why, and only the guess limit is called "unknown codes".
    if (busy && input.kind === "token") {
      await loaded;
      if (data.ready) return offlineVerdict(input.value);
    }
    const retryAfter = secondsOf(exc.retryAfter);
    if (exc.status === 429) {
      const guesses = String(exc.problem?.type ?? "").endsWith("/rate-limited");
      return { ...undetermined(guesses ? "rate_limited" : "busy", now), retryAfter };
    }
    return { ...undetermined("service", now), status: exc.status };
  }
}

/** Retry-After in whole seconds: delay-seconds or an HTTP-date (RFC 9110 10.2.3). */
function secondsOf(header) {
  if (!header) return null;
  if (/^\d+$/.test(header.trim())) return Number(header.trim());
  const at = Date.parse(header);
  return Number.isNaN(at) ? null : Math.max(1, Math.ceil((at - Date.now()) / 1000));
}

/** The service refused the device's key: drop it and ask for the new one at once. */
function keyRejected() {
  scanner?.stop();
  forgetDevice();
  device = null;
  lastVerdict = null;
  clearVerdict($("verdict"), t);
  showDevice();
  say("setup-error", "setup_key_rejected");
}

async function check(text) {
  const region = $("verdict");
  const mine = ++checks;
  lastVerdict = null;
  clearVerdict(region, t); // whatever comes next, the last holder's data goes now
  say("input-error", null);
  const input = classify(text);
  if (input.kind === "empty") return say("input-error", "input_empty");
  if (input.kind === "bad_code") return say("input-error", "input_bad_code");
  if (input.kind === "unknown") return say("input-error", "input_unknown");
  showBusy(region, t);
  const result = await verdictFor(input);
  // a later check (or Forget) came meanwhile: this answer is about someone else
  if (mine !== checks) return;
  if (result.keyRejected) return keyRejected();
  lastVerdict = { ...result, clearAt: Date.now() + CLEAR_AFTER_MS };
  render();
  signal(result.result);
  // paint first, then mark: the bench reads the time from the frame to this mark
  requestAnimationFrame(() => setTimeout(() => performance.mark("statuspass:verdict"), 0));
  showNet();
}

/** The right's label in the language shown now (the service named it in the one asked). */
function relabelled(result) {
  const kind = result.entitlement ? data.registry?.get(result.entitlement.type) : undefined;
  const label = kind?.labels?.[i18n.lang] || kind?.labels?.en;
  return label ? { ...result, entitlement: { ...result.entitlement, label } } : result;
}

function render() {
  if (!lastVerdict) return;
  showVerdict($("verdict"), relabelled(lastVerdict), {
    t,
    lang: i18n.lang,
    extra: { seconds: lastVerdict.retryAfter ?? "60", status: lastVerdict.status ?? "" },
    clearAt: lastVerdict.clearAt,
    // cleared on screen: the holder's data goes from memory too (a redraw would show it)
    onCleared: () => {
      lastVerdict = null;
    },
  });
}

function submitCheck(event) {
  event.preventDefault();
  const field = $("input");
  const text = field.value;
  field.value = ""; // nothing typed or scanned stays in the field
  check(text).finally(() => field.focus());
}

async function startScan() {
  performance.mark("statuspass:scan-pressed");
  say("scan-error", null);
  lastVerdict = null;
  clearVerdict($("verdict"), t);
  scanner ??= new Scanner($("camera"), (text) => {
    $("scan").hidden = false;
    $("stop").hidden = true;
    check(text).finally(() => $("scan").focus());
  });
  $("scan").hidden = true;
  $("stop").hidden = false;
  try {
    await scanner.start();
    $("stop").focus();
  } catch (exc) {
    scanner.stop();
    $("scan").hidden = false;
    $("stop").hidden = true;
    say("scan-error", exc?.name === "NotAllowedError" ? "scan_denied" : "scan_no_camera");
  }
}

function stopScan() {
  scanner?.stop();
  $("scan").hidden = false;
  $("stop").hidden = true;
  $("scan").focus();
}

// -- start ----------------------------------------------------------------------------------
async function refreshTick() {
  if (device && navigator.onLine) await data.refresh().catch(() => {});
  showNet();
}

async function start() {
  warmUp(); // the decoder compiles while the rest starts: the scanner is ready sooner
  i18n.apply();
  $("lang").value = i18n.lang;
  $("lang").addEventListener("change", (e) => i18n.set(e.target.value));
  i18n.onChange(() => {
    showDevice();
    if (lastVerdict) render();
    else clearVerdict($("verdict"), t);
  });
  $("setup-form").addEventListener("submit", setUp);
  $("check-form").addEventListener("submit", submitCheck);
  $("scan").addEventListener("click", startScan);
  $("stop").addEventListener("click", stopScan);
  $("forget").addEventListener("click", forget);
  $("refresh").addEventListener("click", () => data.refresh({ force: true }).then(showNet, showNet));
  window.addEventListener("online", refreshTick);
  window.addEventListener("offline", showNet);
  showDevice();
  clearVerdict($("verdict"), t);
  // Ready to scan and type at once; what an offline check needs is read meanwhile (a
  // check waits for it), then brought up to date.
  document.body.dataset.ready = "true";
  performance.mark("statuspass:app-ready");
  loaded = data.load().catch((exc) => console.warn("stored data unreadable:", exc.message));
  await loaded;
  showNet();
  registerServiceWorker();
  await refreshTick();
  setInterval(refreshTick, REFRESH_EVERY_MS);
}

start();
