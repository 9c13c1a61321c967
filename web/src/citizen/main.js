// The citizen app: log in with the e-ID, see my rights, show one as a QR code and a
// 12-digit code, see who checked me. One module per screen; this one routes between
// them (the address's #fragment: #rights, #checks, #proof/<type>) and keeps the session.
import { createI18n } from "../common/i18n.js";
import { registerServiceWorker } from "../common/pwa.js";
import { ApiError, createApi, fetchTypes } from "./api.js";
import { renderChecks } from "./checks.js";
import { formatClock } from "./format.js";
import { endSession, finishLogin, LoginError, sessionToken, startLogin } from "./oidc.js";
import { createProofScreen, forgetProofs } from "./proof.js";
import { renderRights } from "./rights.js";
import de from "./strings/de.json";
import en from "./strings/en.json";
import fr from "./strings/fr.json";
import nl from "./strings/nl.json";

// public data, kept on the device for starts without network
const CONFIG = "statuspass.citizen.config";
const TYPES = "statuspass.citizen.types";
// mine, kept in this tab only and forgotten at logout
const RIGHTS = "statuspass.citizen.rights";
const CHECKS = "statuspass.citizen.checks";

const i18n = createI18n({ de, en, fr, nl }, "statuspass.citizen.lang");
const t = i18n.t;
const $ = (id) => document.getElementById(id);
const screens = { login: $("login"), rights: $("rights"), checks: $("checks"), proof: $("proof") };

let config = null;
let types = readJson(localStorage, TYPES) ?? {};
let current = null; // the screen shown
let openedFrom = null; // the right whose proof screen is open (focus goes back to it)
let inApp = false; // the reader moved inside the app, so "back" stays in it
let session = 0; // counts logouts: an answer to a request made before one is dropped

function readJson(storage, key) {
  try {
    return JSON.parse(storage.getItem(key) ?? "null");
  } catch {
    return null;
  }
}

function keep(storage, key, value) {
  try {
    storage.setItem(key, JSON.stringify(value));
  } catch {
    // storage full or denied: the app works on, it only forgets sooner
  }
}

function labelOf(type, fallback) {
  return types[type]?.labels?.[i18n.lang] ?? fallback ?? type;
}

function notify(key, vars) {
  $("notice").textContent = key ? t(key, vars) : "";
}

const api = createApi(sessionToken);
const proofScreen = createProofScreen({
  api,
  i18n,
  labelOf,
  onAuthLost: () => logout("session_ended"),
  el: {
    title: $("proof-title"),
    qrBox: $("qr-box"),
    qr: $("qr"),
    verdict: $("verdict"),
    verdictText: $("verdict-text"),
    timeLeft: $("time-left"),
    codeBox: $("code-box"),
    code: $("code"),
    status: $("proof-status"),
    retry: $("proof-retry"),
    hint: $("proof-hint"),
  },
});

function show(name, { focus = false } = {}) {
  for (const [key, section] of Object.entries(screens)) section.hidden = key !== name;
  document.body.dataset.screen = name;
  const loggedIn = name !== "login";
  $("nav").hidden = !loggedIn;
  $("footer").hidden = !loggedIn || name === "proof";
  $("bar").hidden = name === "proof"; // the proof has the whole screen
  $("main").hidden = name === "proof";
  for (const [id, screen] of [
    ["nav-rights", "rights"],
    ["nav-checks", "checks"],
  ]) {
    if (screen === name) $(id).setAttribute("aria-current", "page");
    else $(id).removeAttribute("aria-current");
  }
  if (focus && current !== name) screens[name].querySelector("h2")?.focus();
  current = name;
}

async function loadRights() {
  const cached = readJson(sessionStorage, RIGHTS);
  if (cached) drawRights(cached.rights);
  const asked = session;
  try {
    const rights = await api.rights();
    if (asked !== session) return; // logged out meanwhile: nothing of it is kept
    keep(sessionStorage, RIGHTS, { rights, at: Date.now() });
    drawRights(rights);
    notify(null);
  } catch (error) {
    if (asked === session) failed(error, cached);
  }
}

function drawRights(rights) {
  $("rights-empty").hidden = rights.length > 0;
  renderRights($("rights-list"), rights, { t, lang: i18n.lang, labelOf });
}

async function loadChecks() {
  const cached = readJson(sessionStorage, CHECKS);
  if (cached) drawChecks(cached.data);
  const asked = session;
  try {
    const data = await api.checks();
    if (asked !== session) return; // logged out meanwhile: nothing of it is kept
    keep(sessionStorage, CHECKS, { data, at: Date.now() });
    drawChecks(data);
    notify(null);
  } catch (error) {
    if (asked === session) failed(error, cached);
  }
}

function drawChecks(data) {
  renderChecks($("checks-list"), data, {
    t,
    lang: i18n.lang,
    labelOf,
    empty: $("checks-empty"),
    since: $("checks-since"),
  });
}

function failed(error, cached) {
  if (error instanceof ApiError && error.kind === "auth") return logout("session_ended");
  if (error instanceof ApiError && error.kind === "offline") {
    if (cached) notify("offline_as_of", { time: formatClock(new Date(cached.at), i18n.lang) });
    else notify("offline_nothing");
    return;
  }
  notify("load_failed");
}

async function route({ focus = false } = {}) {
  if (!sessionToken()) {
    proofScreen.close();
    showLogin();
    return;
  }
  const hash = location.hash;
  const type = hash.startsWith("#proof/") ? typeIn(hash.slice("#proof/".length)) : null;
  if (type) {
    show("proof", { focus });
    proofScreen.open(type);
    openedFrom = type;
    return;
  }
  if (hash.startsWith("#proof/")) history.replaceState(null, "", "#rights"); // unreadable
  proofScreen.close();
  const back = openedFrom;
  openedFrom = null;
  if (hash === "#checks") {
    show("checks", { focus });
    await loadChecks();
  } else {
    // back from a proof: focus returns to the button that opened it, not the page top
    show("rights", { focus: focus && !back });
    const shown = loadRights(); // draws the kept list at once, the fresh one when it comes
    if (focus && back) focusProofButton(back);
    await shown;
    // the fresh list replaced the focused button: focus its new one, unless the reader
    // moved on meanwhile
    if (focus && back && current === "rights" && document.activeElement === document.body) {
      focusProofButton(back);
    }
  }
}

/** The right named in an address (#proof/<type>), or null when it cannot be read. */
function typeIn(encoded) {
  try {
    return decodeURIComponent(encoded) || null;
  } catch {
    return null;
  }
}

function focusProofButton(type) {
  const item = [...$("rights-list").children].find((li) => li.dataset.type === type);
  const button = item?.querySelector("a.button");
  if (button) button.focus();
  else screens.rights.querySelector("h2")?.focus();
}

function showLogin() {
  show("login");
  $("dev-note").hidden = !config?.development;
  $("login-button").disabled = !config?.issuer;
  if (config && !config.issuer) loginError("login_unavailable");
}

function loginError(key) {
  const box = $("login-error");
  box.hidden = !key;
  box.textContent = key ? t(key) : "";
}

function logout(reason = "logged_out") {
  session += 1;
  endSession();
  forgetProofs();
  sessionStorage.removeItem(RIGHTS);
  sessionStorage.removeItem(CHECKS);
  proofScreen.close();
  $("rights-list").replaceChildren();
  $("checks-list").replaceChildren();
  history.replaceState(null, "", location.pathname);
  showLogin();
  notify(reason);
  $("login-button").focus();
}

async function loadConfig() {
  try {
    const response = await fetch("config.json", { cache: "no-store", credentials: "omit" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const fresh = await response.json();
    keep(localStorage, CONFIG, fresh);
    return fresh;
  } catch {
    return readJson(localStorage, CONFIG);
  }
}

function refreshTypes() {
  fetchTypes()
    .then((fresh) => {
      types = fresh;
      keep(localStorage, TYPES, fresh);
      redraw();
    })
    .catch(() => {}); // offline: the labels kept from last time, else the API's own
}

function redraw() {
  if (current === "rights") {
    const cached = readJson(sessionStorage, RIGHTS);
    if (cached) drawRights(cached.rights);
  } else if (current === "checks") {
    const cached = readJson(sessionStorage, CHECKS);
    if (cached) drawChecks(cached.data);
  }
}

$("lang").addEventListener("change", (event) => i18n.set(event.target.value));
i18n.onChange(() => {
  $("lang").value = i18n.lang;
  redraw();
});
$("login-button").addEventListener("click", async () => {
  loginError(null);
  notify(null);
  $("login-button").disabled = true;
  try {
    await startLogin(config, i18n.lang);
  } catch (error) {
    loginError(error instanceof LoginError && error.kind === "offline" ? "login_offline" : "login_failed");
    $("login-button").disabled = false;
  }
});
$("logout").addEventListener("click", () => logout());
$("proof-close").addEventListener("click", () => {
  if (inApp) history.back();
  else location.replace("#rights");
});
window.addEventListener("hashchange", () => {
  inApp = true;
  route({ focus: true });
});
window.addEventListener("online", () => current && current !== "proof" && route());

async function boot() {
  i18n.apply();
  $("lang").value = i18n.lang;
  registerServiceWorker();
  config = await loadConfig();
  refreshTypes();
  try {
    if (await finishLogin(config ?? {})) notify(null);
  } catch (error) {
    showLogin();
    const kind = error instanceof LoginError ? error.kind : "failed";
    loginError({ cancelled: "login_cancelled", offline: "login_offline" }[kind] ?? "login_failed");
    return;
  }
  await route();
}

boot();
