// The browser's verification core, mirroring app/tokens/verify.py function for function
// (checkToken = check_token, buildResult = build_result, verifyOffline = verify_offline).
// Pure: no I/O, no clock of its own (`now` is epoch milliseconds), no DOM. The vectors
// in tests/vectors/ hold both cores to the same result and reason for every case.
import { JsonFloat } from "./codec.js";
import { JoseError, decodeVerified } from "./jose.js";
import { STATUS_SUSPENDED, STATUS_VALID, getStatus } from "./statuslist.js";

export const PROOF_TYP = "statuspass+jwt";
/** Reasons for which the verifier may see who and what the proof is about. */
const DISCLOSING = new Set([null, "revoked", "suspended", "expired"]);
const JTI = /^[A-Za-z0-9_-]{16,}$/;
/** No genuine verification happens before this: an earlier device clock was reset. */
export const EARLIEST_PLAUSIBLE_MS = Date.UTC(2025, 0, 1);

/**
 * The registry as issuer metadata publishes it (`entitlement_types`) -> Map id -> type
 * with its labels, its attributes and whether it discloses the holder's name.
 */
export function registryFromMetadata(types) {
  const registry = new Map();
  for (const t of types) {
    const claims = t.disclosed_claims ?? [];
    registry.set(t.id, {
      id: t.id,
      labels: t.labels,
      attributes: claims.filter((c) => c !== "nam"),
      disclosesName: claims.includes("nam"),
    });
  }
  return registry;
}

function label(kind, lang) {
  return kind.labels[lang] || kind.labels.en;
}

const isInt = (v) => (typeof v === "number" && Number.isInteger(v)) || typeof v === "bigint";
/** The last epoch second a result can show (9999-12-31T23:59:59Z), as in results.py. */
export const LAST_EPOCH = 253402300799;
/** A time a result can show: a genuine token with any other is malformed, not a crash. */
const isTime = (v) => isInt(v) && v >= 0 && v <= LAST_EPOCH;
const isStr = (v) => typeof v === "string";
const isObj = (v) => v !== null && typeof v === "object" && !Array.isArray(v) && !(v instanceof JsonFloat);

/** `YYYY-MM-DDTHH:MM:SSZ` of epoch seconds. */
export function rfc3339(seconds) {
  return new Date(Number(seconds) * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** What msgspec.convert(raw, _Claims, strict=True) accepts, or null. */
function proofClaims(raw) {
  const status = raw.status;
  const ref = isObj(status) ? status.status_list : undefined;
  const ok =
    isStr(raw.iss) &&
    isTime(raw.iat) &&
    isTime(raw.exp) &&
    isStr(raw.jti) &&
    isStr(raw.ent) &&
    isObj(ref) &&
    isInt(ref.idx) &&
    ref.idx >= 0 &&
    isStr(ref.uri) &&
    (!Object.hasOwn(raw, "nam") || raw.nam === null || isStr(raw.nam));
  return ok ? { ...raw, nam: raw.nam ?? null, listUri: ref.uri, idx: ref.idx } : null;
}

/**
 * Verify a proof's signature, claims, scope and time window (check_token).
 * Resolves to {claims, failure}: failure null for a usable token; claims kept for
 * expired and not_yet_valid (the token is genuine), dropped otherwise.
 */
export async function checkToken(token, keys, { nowMs, skewS, registry, allowedTypes, issuer = null }) {
  const nowS = Math.trunc(nowMs / 1000);
  let header;
  let raw;
  try {
    ({ header, claims: raw } = await decodeVerified(token, keys, { typ: PROOF_TYP }));
  } catch (exc) {
    if (exc instanceof JoseError) return { claims: null, failure: exc.reason };
    throw exc;
  }
  const c = proofClaims(raw);
  if (c === null) return { claims: null, failure: "malformed" };
  if (!registry.has(c.ent) || !JTI.test(c.jti)) return { claims: null, failure: "malformed" };
  if (issuer !== null && c.iss !== issuer) return { claims: null, failure: "malformed" };
  // Scope before anything else about the holder: out of scope, the verifier learns nothing.
  if (allowedTypes != null && !allowedTypes.includes(c.ent)) return { claims: null, failure: "not_permitted" };
  const attributes = {};
  for (const name of registry.get(c.ent).attributes) {
    if (!isStr(raw[name])) return { claims: null, failure: "malformed" };
    attributes[name] = raw[name];
  }
  if (c.exp <= c.iat) return { claims: null, failure: "malformed" };
  const proof = {
    jti: c.jti,
    kid: header.kid,
    type: c.ent,
    name: c.nam,
    iat: c.iat,
    exp: c.exp,
    listUri: c.listUri,
    idx: c.idx,
    attributes,
  };
  // The skew tolerates an issuer clock a little ahead (iat); a proof ends at its exp,
  // never later: "valid" never comes with a valid_until already past.
  if (nowS < Number(c.iat) - skewS) return { claims: proof, failure: "not_yet_valid" };
  if (nowS >= Number(c.exp)) return { claims: proof, failure: "expired" };
  return { claims: proof, failure: null };
}

/** Decide the verdict and what the verifier is shown (build_result). */
export function buildResult(check, { status, nowMs, registry, revocationChecked, lang = "en", seen = null, verificationId = null, statusListAgeS = null }) {
  let reason = check.failure;
  if (reason === null && check.claims === null) reason = "malformed";
  if (reason === null && status !== null && status !== STATUS_VALID) {
    reason = status === STATUS_SUSPENDED ? "suspended" : "revoked";
  }
  const claims = DISCLOSING.has(reason) ? check.claims : null;
  let entitlement = null;
  let holder = null;
  let attributes = null;
  let validUntil = null;
  if (claims !== null) {
    const kind = registry.get(claims.type);
    entitlement = { type: kind.id, label: label(kind, lang) };
    if (kind.disclosesName && claims.name) holder = { name: claims.name };
    attributes = Object.keys(claims.attributes).length ? { ...claims.attributes } : null;
    validUntil = rfc3339(claims.exp);
  }
  return {
    result: reason === null ? "valid" : "invalid",
    reason,
    entitlement,
    holder,
    attributes,
    valid_until: validUntil,
    checked_at: rfc3339(Math.trunc(nowMs / 1000)),
    revocation_checked: revocationChecked,
    status_list_age_s: statusListAgeS,
    seen,
    verification_id: verificationId,
  };
}

/** A verdict the verifier cannot give: no holder data, only the reason why. */
export function undetermined(reason, nowMs, revocationChecked = "none") {
  return {
    result: "undetermined",
    reason,
    entitlement: null,
    holder: null,
    attributes: null,
    valid_until: null,
    checked_at: rfc3339(Math.trunc(nowMs / 1000)),
    revocation_checked: revocationChecked,
    status_list_age_s: null,
    seen: null,
    verification_id: null,
  };
}

/**
 * Verify a proof from cached keys and status lists (verify_offline): never a false
 * "valid", and "undetermined" with check_clock, stale_keys or stale_status_list rather
 * than a guess when the cache or the clock cannot support an answer.
 *
 * jwks: {keys: Map, fetchedAtMs, maxAgeS}; statusLists: Map uri -> parsed list.
 */
export async function verifyOffline(token, { jwks, statusLists, nowMs, registry, allowedTypes = null, skewS = 60, lang = "en" }) {
  const nowS = Math.trunc(nowMs / 1000);
  const fetchedS = Math.trunc(jwks.fetchedAtMs / 1000);
  if (nowMs < EARLIEST_PLAUSIBLE_MS || nowS < fetchedS - skewS) return undetermined("check_clock", nowMs);
  const keysStale = nowS - fetchedS > jwks.maxAgeS;
  const check = await checkToken(token, jwks.keys, { nowMs, skewS, registry, allowedTypes });
  if (check.failure === "unknown_key" && keysStale) return undetermined("stale_keys", nowMs);
  if (check.failure === "not_yet_valid") return undetermined("check_clock", nowMs);
  const base = { nowMs, registry, lang };
  if (check.failure !== null || check.claims === null) {
    return buildResult(check, { ...base, status: null, revocationChecked: "none" });
  }
  if (keysStale) return undetermined("stale_keys", nowMs);
  const list = statusLists.get(check.claims.listUri);
  if (list === undefined) return undetermined("stale_status_list", nowMs);
  if (nowS < list.iat - skewS) return undetermined("check_clock", nowMs);
  if (nowS > list.exp) return undetermined("stale_status_list", nowMs);
  let status;
  try {
    status = getStatus(list.packed, check.claims.idx);
  } catch (exc) {
    if (exc instanceof RangeError) return undetermined("stale_status_list", nowMs);
    throw exc;
  }
  return buildResult(check, {
    ...base,
    status,
    revocationChecked: "status_list",
    statusListAgeS: Math.max(0, nowS - list.iat),
  });
}
