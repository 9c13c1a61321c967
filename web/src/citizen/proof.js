// The proof screen: one right's QR code filling the screen, its 12-digit code in large
// grouped digits and the time left. While the screen is open the proof is renewed before
// it expires; with no network the last proof stays until its own expiry, then the
// screen says plainly that a new one needs a connection.
//
// A proof's expiry is counted on this device's clock from the moment it was asked for,
// with the lifetime the token states (exp - iat): a device clock that is off shows the
// right time left all the same, and never more than the proof really has.
import { ApiError } from "./api.js";
import { formatClock, formatDate, formatDuration } from "./format.js";

const STORED = "statuspass.citizen.proof";
const RETRY_MS = 10_000;
const LONG_LIVED_MS = 86_400_000; // a parking card's proof: shown with its end date

function lifetimeOf(token) {
  const part = token.split(".")[1];
  const json = atob(part.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((part.length + 3) % 4));
  const claims = JSON.parse(json);
  return (claims.exp - claims.iat) * 1000;
}

/** Renew this long before expiry: a fifth of the lifetime, at least 30 s. */
export function renewLead(lifetimeMs) {
  return Math.max(30_000, lifetimeMs / 5);
}

function readStored() {
  try {
    return JSON.parse(sessionStorage.getItem(STORED) ?? "null");
  } catch {
    return null;
  }
}

export function forgetProofs() {
  sessionStorage.removeItem(STORED);
}

export function createProofScreen({ api, i18n, el, labelOf, onAuthLost }) {
  let type = null;
  let proof = null; // {type, token, code, svg, expiresAt (device clock), lifetimeMs}
  let objectUrl = null;
  let timer = null;
  let renewing = false;
  let retryAt = 0;
  let problem = null; // null | "offline" | "expired" | "failed"
  let wakeLock = null;

  const t = i18n.t;

  function setStatus(text) {
    // announced politely: renewals and expiry, never the seconds ticking
    if (el.status.textContent !== text) el.status.textContent = text;
  }

  async function show(next) {
    const url = URL.createObjectURL(new Blob([next.svg], { type: "image/svg+xml" }));
    // decoded off screen first: the old QR stays until the new one can replace it whole
    const img = new Image();
    img.src = url;
    try {
      await img.decode();
    } catch {
      // an SVG that cannot be decoded still gets its chance on screen
    }
    if (type !== next.type) {
      URL.revokeObjectURL(url);
      return; // the screen was closed or moved on meanwhile
    }
    const old = objectUrl;
    objectUrl = url;
    el.qr.src = url;
    if (old) URL.revokeObjectURL(old);
    proof = next;
    render();
    performance.mark("statuspass:qr-shown");
  }

  function render() {
    if (!type) return;
    el.title.textContent = labelOf(type);
    const left = proof ? proof.expiresAt - Date.now() : 0;
    const live = proof && left > 0;
    el.qrBox.hidden = !live;
    el.qr.alt = t("qr_alt", { label: labelOf(type) });
    el.codeBox.hidden = !live || !proof.code;
    if (live && proof.code) el.code.textContent = proof.code;
    el.verdict.hidden = !live;
    el.hint.hidden = !live;
    el.verdict.dataset.state = live ? "valid" : "expired";
    if (live) {
      el.verdictText.textContent = t("proof_valid");
      el.timeLeft.textContent =
        proof.lifetimeMs > LONG_LIVED_MS
          ? t("valid_until", { date: formatDate(new Date(proof.expiresAt), i18n.lang) })
          : t("time_left", { time: formatDuration(left) });
    }
    el.retry.hidden = live || problem === null;
    if (!proof && !problem) setStatus(t("proof_loading"));
    else if (problem === "expired" || (!live && problem === "offline")) {
      setStatus(t("proof_needs_connection"));
    } else if (problem === "offline") {
      setStatus(t("proof_offline", { time: formatClock(new Date(proof.expiresAt), i18n.lang) }));
    } else if (problem === "failed") setStatus(t(live ? "proof_retrying" : "proof_failed"));
    else setStatus("");
  }

  async function request() {
    const wanted = type;
    renewing = true;
    const askedAt = Date.now();
    performance.mark("statuspass:proof-requested");
    try {
      const answer = await api.proof(wanted);
      // closed, or logged out, meanwhile: the answer is not kept, even in this tab
      if (type !== wanted) return;
      const lifetimeMs = lifetimeOf(answer.token);
      const next = {
        type: wanted,
        token: answer.token,
        code: answer.code,
        svg: answer.qr_svg,
        lifetimeMs,
        expiresAt: askedAt + lifetimeMs,
      };
      sessionStorage.setItem(STORED, JSON.stringify(next));
      problem = null;
      await show(next);
    } catch (error) {
      if (type !== wanted) return;
      if (error instanceof ApiError && error.kind === "auth") {
        onAuthLost();
        return;
      }
      const offline = error instanceof ApiError && error.kind === "offline";
      if (!proof && offline) {
        // the last proof of this right, kept in this tab, until its own expiry
        const stored = readStored();
        if (stored && stored.type === wanted && stored.expiresAt > Date.now()) {
          problem = "offline";
          await show(stored);
          return;
        }
      }
      problem = offline ? "offline" : "failed";
      retryAt = Date.now() + RETRY_MS;
      render();
    } finally {
      renewing = false;
    }
  }

  function tick() {
    if (!type) return;
    const now = Date.now();
    if (proof && proof.expiresAt <= now) {
      if (problem !== null) problem = "expired";
    }
    render();
    if (renewing) return;
    const due = !proof || proof.expiresAt - now <= renewLead(proof.lifetimeMs);
    if (due && (problem === null || now >= retryAt)) request();
  }

  async function keepAwake() {
    try {
      wakeLock = (await navigator.wakeLock?.request("screen")) ?? null;
    } catch {
      wakeLock = null; // not granted (battery saver): the proof is shown all the same
    }
  }

  function onVisible() {
    if (document.visibilityState === "visible" && type) {
      keepAwake();
      tick();
    }
  }

  function onOnline() {
    if (type && problem !== null) {
      retryAt = 0;
      tick();
    }
  }

  document.addEventListener("visibilitychange", onVisible);
  window.addEventListener("online", onOnline);
  el.retry.addEventListener("click", () => {
    retryAt = 0;
    problem = problem ?? "failed";
    tick();
  });
  i18n.onChange(render);

  return {
    open(nextType) {
      if (type === nextType) return;
      this.close();
      type = nextType;
      proof = null;
      problem = null;
      el.qr.removeAttribute("src");
      render();
      timer = setInterval(tick, 1000);
      keepAwake();
      request();
    },
    close() {
      if (timer) clearInterval(timer);
      timer = null;
      type = null;
      proof = null;
      if (objectUrl) URL.revokeObjectURL(objectUrl);
      objectUrl = null;
      wakeLock?.release().catch(() => {});
      wakeLock = null;
    },
  };
}
