// The citizen app's login answer handling (src/citizen/oidc.js), with the browser's
// storage, address bar and network replaced by small fakes: what it accepts from the
// provider and what it refuses before it spends the code.
import assert from "node:assert/strict";
import { beforeEach, test } from "node:test";

const ISSUER = "https://idp.example/dev-idp";
const CONFIG = { issuer: ISSUER, client_id: "citizen", redirect_uri: "https://sp.example/citizen/", scope: "openid" };

class FakeStorage {
  constructor() {
    this.items = new Map();
  }
  getItem(key) {
    return this.items.has(key) ? this.items.get(key) : null;
  }
  setItem(key, value) {
    this.items.set(key, String(value));
  }
  removeItem(key) {
    this.items.delete(key);
  }
}

let requests;
let discovery;

function b64url(obj) {
  return Buffer.from(JSON.stringify(obj)).toString("base64url");
}

function idToken(claims) {
  return `${b64url({ alg: "ES256", typ: "JWT" })}.${b64url(claims)}.c2ln`;
}

beforeEach(() => {
  requests = [];
  discovery = {
    issuer: ISSUER,
    authorization_endpoint: `${ISSUER}/authorize`,
    token_endpoint: `${ISSUER}/token`,
    authorization_response_iss_parameter_supported: true,
  };
  globalThis.sessionStorage = new FakeStorage();
  globalThis.history = { state: null, replaceState: (_s, _t, url) => (globalThis.location.search = url.includes("?") ? url.slice(url.indexOf("?")) : "") };
  globalThis.location = { pathname: "/citizen/", hash: "", search: "", assign: (url) => (globalThis.location.assigned = url) };
  globalThis.fetch = async (url, init = {}) => {
    requests.push({ url: String(url), init });
    if (String(url).endsWith("/.well-known/openid-configuration")) return Response.json(discovery);
    const pending = JSON.parse(globalThis.lastPending);
    return Response.json({
      access_token: "access",
      token_type: "Bearer",
      expires_in: 3600,
      id_token: idToken({ iss: ISSUER, aud: "citizen", exp: Math.floor(Date.now() / 1000) + 600, nonce: pending.nonce }),
    });
  };
});

/** Start a login and come back with `params` (state filled in unless given). */
async function comeBack(oidc, params) {
  await oidc.startLogin(CONFIG, "en");
  const pending = sessionStorage.getItem("statuspass.citizen.pending");
  globalThis.lastPending = pending;
  const sent = new URL(location.assigned);
  const answer = new URLSearchParams({ state: sent.searchParams.get("state"), ...params });
  location.search = `?${answer}`;
  return oidc.finishLogin(CONFIG);
}

test("a login answer with the provider's iss is taken", async () => {
  const oidc = await import("../src/citizen/oidc.js");
  assert.equal(await comeBack(oidc, { code: "abc", iss: ISSUER }), true);
  assert.equal(oidc.sessionToken(), "access");
  assert.equal(location.search, "", "the code left the address bar");
});

test("RFC 9207: no iss from a provider that says it sends one is refused, code unspent", async () => {
  const oidc = await import("../src/citizen/oidc.js");
  await assert.rejects(comeBack(oidc, { code: "abc" }), (exc) => exc.kind === "failed");
  assert.equal(requests.filter((r) => r.url.endsWith("/token")).length, 0);
  assert.equal(oidc.sessionToken(), null);
});

test("a provider that does not send iss is still served without it", async () => {
  delete discovery.authorization_response_iss_parameter_supported;
  const oidc = await import("../src/citizen/oidc.js");
  assert.equal(await comeBack(oidc, { code: "abc" }), true);
});

test("an iss of another provider is refused", async () => {
  const oidc = await import("../src/citizen/oidc.js");
  await assert.rejects(comeBack(oidc, { code: "abc", iss: "https://evil.example" }), (exc) => exc.kind === "failed");
  assert.equal(requests.filter((r) => r.url.endsWith("/token")).length, 0);
});
