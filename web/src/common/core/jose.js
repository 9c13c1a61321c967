// Compact JWS verification over WebCrypto, mirroring app/tokens/jose.py rule for rule:
// the key decides the algorithm (never the header), jku/x5u/jwk/x5c are ignored, crit is
// refused, typ must match, and the size is checked before anything is decoded.
import { CodecError, b64urlDecode, b64urlEncode, jsonObject } from "./codec.js";

/** A token or key that cannot be trusted; `reason` is the wire-level reason. */
export class JoseError extends Error {
  constructor(reason, detail) {
    super(detail ?? reason);
    this.reason = reason;
  }
}

const PRIVATE_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];
const subtle = globalThis.crypto.subtle;
const ASCII = new TextEncoder();

function isStr(v) {
  return typeof v === "string";
}

function b64(text) {
  try {
    return b64urlDecode(text);
  } catch (exc) {
    if (exc instanceof CodecError) throw new JoseError("malformed", "bad public key in JWK");
    throw exc;
  }
}

/** The RFC 7638 SHA-256 thumbprint, first 8 base64url characters (as kid_for). */
async function thumbprintKid(members) {
  const digest = await subtle.digest("SHA-256", ASCII.encode(JSON.stringify(members)));
  return b64urlEncode(new Uint8Array(digest)).slice(0, 8);
}

/** One public JWK -> {kid, alg, key}; refuses what PublicKey.from_jwk refuses. */
export async function importJwk(jwk) {
  if (PRIVATE_MEMBERS.some((m) => Object.hasOwn(jwk, m))) {
    throw new JoseError("malformed", "a JWKS must not hold private key members");
  }
  const { kty, crv } = jwk;
  let alg;
  let key;
  let members;
  if (kty === "EC" && crv === "P-256") {
    if (!isStr(jwk.x) || !isStr(jwk.y)) throw new JoseError("malformed", "bad public key in JWK");
    const x = b64(jwk.x);
    const y = b64(jwk.y);
    if (x.length !== 32 || y.length !== 32) throw new JoseError("malformed", "bad public key in JWK");
    alg = "ES256";
    members = { crv: "P-256", kty: "EC", x: b64urlEncode(x), y: b64urlEncode(y) };
    const raw = new Uint8Array(65);
    raw[0] = 4;
    raw.set(x, 1);
    raw.set(y, 33);
    try {
      // raw import checks that the point is on the curve, as cryptography does
      key = await subtle.importKey("raw", raw, { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]);
    } catch {
      throw new JoseError("malformed", "bad public key in JWK");
    }
  } else if (kty === "OKP" && crv === "Ed25519") {
    if (!isStr(jwk.x)) throw new JoseError("malformed", "bad public key in JWK");
    const x = b64(jwk.x);
    if (x.length !== 32) throw new JoseError("malformed", "bad public key in JWK");
    alg = "EdDSA";
    members = { crv: "Ed25519", kty: "OKP", x: b64urlEncode(x) };
    try {
      key = await subtle.importKey("raw", x, { name: "Ed25519" }, false, ["verify"]);
    } catch {
      throw new JoseError("malformed", "bad public key in JWK");
    }
  } else {
    throw new JoseError("malformed", `unsupported key type ${kty}/${crv}`);
  }
  if ((Object.hasOwn(jwk, "alg") && jwk.alg !== alg) || (Object.hasOwn(jwk, "use") && jwk.use !== "sig")) {
    throw new JoseError("malformed", "JWK alg or use does not match the key");
  }
  const kid = Object.hasOwn(jwk, "kid") ? jwk.kid : await thumbprintKid(members);
  if (!isStr(kid) || !kid) throw new JoseError("malformed", "JWK kid must be a non-empty string");
  return { kid, alg, key };
}

/** A JWKS document (object or JSON text) -> Map kid -> key; throws JoseError malformed. */
export async function parseJwks(doc) {
  let obj = doc;
  if (typeof doc === "string" || doc instanceof Uint8Array) {
    try {
      obj = jsonObject(doc);
    } catch (exc) {
      throw new JoseError("malformed", `JWKS: ${exc.message}`);
    }
  }
  const entries = obj?.keys;
  if (!Array.isArray(entries)) throw new JoseError("malformed", "JWKS has no keys list");
  const keys = new Map();
  for (const entry of entries) {
    if (entry === null || typeof entry !== "object" || Array.isArray(entry)) {
      throw new JoseError("malformed", "JWKS entry is not an object");
    }
    const key = await importJwk(entry);
    if (keys.has(key.kid)) throw new JoseError("malformed", `duplicate kid ${key.kid}`);
    keys.set(key.kid, key);
  }
  return keys;
}

async function signatureHolds(key, signingInput, signature) {
  if (key.alg === "ES256") {
    if (signature.length !== 64) return false; // raw r||s, 32 bytes each
    return subtle.verify({ name: "ECDSA", hash: "SHA-256" }, key.key, signature, signingInput);
  }
  return subtle.verify({ name: "Ed25519" }, key.key, signature, signingInput);
}

/**
 * Verify a compact JWS; resolve to {header, claims} or throw JoseError with reason
 * malformed, unknown_key or bad_signature (decode_verified).
 */
export async function decodeVerified(token, keys, { typ, maxLen = 4096 }) {
  // Size first: no decoding, JSON parsing or cryptography for an oversized input.
  if (token.length > maxLen) throw new JoseError("malformed", "token too long");
  const parts = token.split(".");
  if (parts.length !== 3 || !parts[0] || !parts[1]) throw new JoseError("malformed", "not a compact JWS");
  let header;
  let payload;
  let signature;
  try {
    header = jsonObject(b64urlDecode(parts[0]));
    payload = b64urlDecode(parts[1]);
    signature = b64urlDecode(parts[2]);
  } catch (exc) {
    if (exc instanceof CodecError) throw new JoseError("malformed", exc.message);
    throw exc;
  }
  const tokenTyp = header.typ;
  if (!isStr(tokenTyp) || tokenTyp.toLowerCase() !== typ.toLowerCase()) {
    throw new JoseError("malformed", "wrong token type");
  }
  if (Object.hasOwn(header, "crit")) {
    throw new JoseError("malformed", "critical header extensions are not supported");
  }
  const { kid, alg } = header;
  if (!isStr(alg)) throw new JoseError("malformed", "no alg");
  if (!isStr(kid) || !keys.has(kid)) throw new JoseError("unknown_key", "unknown kid");
  const key = keys.get(kid);
  // The key decides the algorithm. A header asking for anything else is a forgery.
  if (alg !== key.alg) throw new JoseError("bad_signature", "algorithm does not match the key");
  const signingInput = ASCII.encode(`${parts[0]}.${parts[1]}`);
  if (!(await signatureHolds(key, signingInput, signature))) {
    throw new JoseError("bad_signature", "signature does not verify");
  }
  // Claims are parsed only once authentic.
  let claims;
  try {
    claims = jsonObject(payload);
  } catch (exc) {
    if (exc instanceof CodecError) throw new JoseError("malformed", `claims: ${exc.message}`);
    throw exc;
  }
  return { header, claims };
}
