// Login with the e-ID provider: OpenID Connect authorization code flow with PKCE (S256),
// as a public client (no secret in the browser). The provider is found through its
// discovery document. Tokens stay in this tab's sessionStorage, never in a URL: the code
// that comes back in the address bar is removed from it and from the history at once.
//
// Rules followed: RFC 6749 (state), RFC 7636 (PKCE), RFC 9207 (iss in the response),
// OpenID Connect Core 3.1.3.7 (ID token: iss, aud, azp, exp, nonce). The ID token comes
// straight from the token endpoint over this connection, so its signature need not be
// checked here (Core 3.1.3.7, item 6); the API checks every token it is given.

const PENDING = "statuspass.citizen.pending";
const SESSION = "statuspass.citizen.session";
const SKEW_MS = 60_000;

export class LoginError extends Error {
  /** `kind` names the message shown: cancelled, refused, failed, offline. */
  constructor(kind, detail) {
    super(detail ?? kind);
    this.kind = kind;
  }
}

function base64url(bytes) {
  let text = "";
  for (const b of new Uint8Array(bytes)) text += String.fromCharCode(b);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomString(bytes) {
  return base64url(crypto.getRandomValues(new Uint8Array(bytes)));
}

async function challengeOf(verifier) {
  return base64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
}

function readJson(storage, key) {
  try {
    return JSON.parse(storage.getItem(key) ?? "null");
  } catch {
    return null;
  }
}

async function fetchJson(url, init) {
  let response;
  try {
    response = await fetch(url, { credentials: "omit", cache: "no-store", ...init });
  } catch {
    throw new LoginError("offline");
  }
  if (!response.ok) throw new LoginError("failed", `${url}: HTTP ${response.status}`);
  return response.json();
}

/** The provider's metadata (OpenID Connect Discovery 1.0); its issuer must be ours. */
export async function discover(issuer) {
  const doc = await fetchJson(`${issuer.replace(/\/$/, "")}/.well-known/openid-configuration`);
  if (doc.issuer !== issuer) throw new LoginError("failed", "discovery names another issuer");
  return doc;
}

/** Leave for the provider's login page. Returns only if that cannot be done. */
export async function startLogin(config, lang) {
  const doc = await discover(config.issuer);
  const verifier = randomString(32); // 43 characters, 256 bits (RFC 7636 4.1)
  const pending = {
    issuer: config.issuer,
    client_id: config.client_id,
    redirect_uri: config.redirect_uri,
    token_endpoint: doc.token_endpoint,
    // RFC 9207 2.4: a provider that says it sends iss must send it, or the answer is
    // not trusted (a mix-up attack strips it)
    iss_required: doc.authorization_response_iss_parameter_supported === true,
    state: randomString(16),
    nonce: randomString(16),
    verifier,
  };
  sessionStorage.setItem(PENDING, JSON.stringify(pending));
  const url = new URL(doc.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: "code",
    client_id: config.client_id,
    redirect_uri: config.redirect_uri,
    scope: config.scope,
    state: pending.state,
    nonce: pending.nonce,
    code_challenge: await challengeOf(verifier),
    code_challenge_method: "S256",
    ui_locales: lang,
  }).toString();
  location.assign(url.toString());
}

function claimsOf(jwt) {
  const part = String(jwt).split(".")[1] ?? "";
  const padded = part.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((part.length + 3) % 4);
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(padded), (c) => c.charCodeAt(0))));
}

function checkIdToken(idToken, pending) {
  let claims;
  try {
    claims = claimsOf(idToken);
  } catch {
    throw new LoginError("failed", "the ID token cannot be read");
  }
  const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  const ok =
    claims.iss === pending.issuer &&
    audiences.includes(pending.client_id) &&
    (audiences.length === 1 || claims.azp === pending.client_id) &&
    typeof claims.exp === "number" &&
    claims.exp * 1000 > Date.now() - SKEW_MS &&
    claims.nonce === pending.nonce;
  if (!ok) throw new LoginError("failed", "the ID token is not for this login");
  return claims;
}

/**
 * After the provider sent the browser back: check the answer, trade the code for tokens
 * and keep them. Returns true if a login finished, false if this was no login answer.
 */
export async function finishLogin(config) {
  const params = new URLSearchParams(location.search);
  if (!params.has("code") && !params.has("error")) return false;
  // The code (or error) leaves the address bar and the history before anything else.
  history.replaceState(history.state, "", location.pathname + location.hash);
  const pending = readJson(sessionStorage, PENDING);
  sessionStorage.removeItem(PENDING);
  if (!pending || params.get("state") !== pending.state) {
    throw new LoginError("failed", "the login answer does not belong to this tab");
  }
  // RFC 9207: an answer from another provider than the one we sent the person to
  if ((params.has("iss") || pending.iss_required) && params.get("iss") !== pending.issuer) {
    throw new LoginError("failed", "the login answer comes from another provider");
  }
  const error = params.get("error");
  if (error) throw new LoginError(error === "access_denied" ? "cancelled" : "refused", error);
  const tokens = await fetchJson(pending.token_endpoint, {
    method: "POST",
    body: new URLSearchParams({
      grant_type: "authorization_code",
      code: params.get("code"),
      redirect_uri: pending.redirect_uri,
      client_id: pending.client_id,
      code_verifier: pending.verifier,
    }),
  });
  const claims = checkIdToken(tokens.id_token, pending);
  const useIdToken = config.api_token === "id_token";
  const token = useIdToken ? tokens.id_token : tokens.access_token;
  if (typeof token !== "string" || !token) throw new LoginError("failed", "no token");
  const lifetimeMs = useIdToken
    ? claims.exp * 1000 - Date.now()
    : (Number(tokens.expires_in) || 3600) * 1000;
  sessionStorage.setItem(SESSION, JSON.stringify({ token, expiresAt: Date.now() + lifetimeMs }));
  return true;
}

/** The API token of this tab's session, or null when logged out or expired. */
export function sessionToken() {
  const session = readJson(sessionStorage, SESSION);
  if (!session || typeof session.token !== "string") return null;
  if (Date.now() >= session.expiresAt) return null;
  return session.token;
}

/** Forget the session (the caller forgets what it showed). */
export function endSession() {
  sessionStorage.removeItem(SESSION);
  sessionStorage.removeItem(PENDING);
}
