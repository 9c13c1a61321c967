// Strict base64url and JSON, mirroring app/tokens/_codec.py: exactly one text decodes to
// a given value, so a signature over one text says something reliable about what it
// means. Every refusal throws CodecError; callers turn it into the reason "malformed".

export class CodecError extends Error {}

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const VALUE = new Int16Array(128).fill(-1);
for (let i = 0; i < 64; i++) VALUE[ALPHABET.charCodeAt(i)] = i;

/** Canonical, unpadded base64url -> bytes (no padding, no stray or trailing bits). */
export function b64urlDecode(text) {
  const rest = text.length % 4;
  if (rest === 1) throw new CodecError("not canonical base64url");
  const out = new Uint8Array(Math.floor((text.length * 3) / 4));
  let acc = 0;
  let bits = 0;
  let o = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const v = c < 128 ? VALUE[c] : -1;
    if (v < 0) throw new CodecError("not canonical base64url");
    acc = ((acc << 6) | v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
  }
  // the bits left over must be zero: "AB" and "AA" would otherwise be the same byte
  if (bits > 0 && (acc & ((1 << bits) - 1)) !== 0) {
    throw new CodecError("non-canonical base64url (trailing bits set)");
  }
  return out;
}

export function b64urlEncode(bytes) {
  let out = "";
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out += ALPHABET[n >> 18] + ALPHABET[(n >> 12) & 63] + ALPHABET[(n >> 6) & 63] + ALPHABET[n & 63];
  }
  if (i < bytes.length) {
    const n = (bytes[i] << 16) | ((bytes[i + 1] ?? 0) << 8);
    out += ALPHABET[n >> 18] + ALPHABET[(n >> 12) & 63];
    if (i + 1 < bytes.length) out += ALPHABET[(n >> 6) & 63];
  }
  return out;
}

/**
 * A JSON number that is not an integer in Python's eyes ("1.0", "1e3"): Python's json
 * reads those as float, and a claim that must be an int then fails. JSON.parse would
 * make them indistinguishable from integers, so the parser below keeps them apart.
 */
export class JsonFloat {
  constructor(value) {
    this.value = value;
  }
}

const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
// Python's json refuses a leading BOM; keeping it (ignoreBOM) makes the parser see it.

/** Strict JSON that must be an object: UTF-8, no duplicate members, no NaN/Infinity. */
export function jsonObject(bytes) {
  let text;
  try {
    text = typeof bytes === "string" ? bytes : UTF8.decode(bytes);
  } catch {
    throw new CodecError("not JSON");
  }
  const value = new Parser(text).document();
  if (value === null || typeof value !== "object" || Array.isArray(value) || value instanceof JsonFloat) {
    throw new CodecError("not a JSON object");
  }
  return value;
}

const WS = new Set([" ", "\t", "\n", "\r"]);
const ESCAPES = { '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };
const NUMBER = /-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/y;
// The same fixed limit as app/tokens/_codec.py's MAX_DEPTH: containers nested at most
// this deep, the outer object counted (vectors: 512 read, 513 refused by both).
const MAX_DEPTH = 512;
const MAX_INT_DIGITS = 4300;

class Parser {
  constructor(text) {
    this.s = text;
    this.i = 0;
    this.depth = 0;
  }

  fail() {
    throw new CodecError("not JSON");
  }

  ws() {
    while (this.i < this.s.length && WS.has(this.s[this.i])) this.i++;
  }

  document() {
    this.ws();
    const value = this.value();
    this.ws();
    if (this.i !== this.s.length) this.fail();
    return value;
  }

  value() {
    const c = this.s[this.i];
    if (c === "{") return this.object();
    if (c === "[") return this.array();
    if (c === '"') return this.string();
    if (c === "t" && this.s.startsWith("true", this.i)) return (this.i += 4), true;
    if (c === "f" && this.s.startsWith("false", this.i)) return (this.i += 5), false;
    if (c === "n" && this.s.startsWith("null", this.i)) return (this.i += 4), null;
    return this.number();
  }

  number() {
    NUMBER.lastIndex = this.i;
    const m = NUMBER.exec(this.s);
    if (!m || m[0] === "" || m[0] === "-") this.fail();
    this.i += m[0].length;
    if (m[1] !== undefined || m[2] !== undefined) return new JsonFloat(Number(m[0]));
    // Python's json refuses integers of more than 4,300 digits (CPython's conversion
    // limit): so does this parser, or the two verifiers would disagree on such a claim
    if (m[0].replace("-", "").length > MAX_INT_DIGITS) this.fail();
    const n = Number(m[0]);
    // beyond 2**53 a Number is not exact; such a value is only ever compared with times
    // and list sizes, where it is far beyond every bound either way
    return Number.isSafeInteger(n) ? n : BigInt(m[0]);
  }

  string() {
    this.i++; // opening quote
    let out = "";
    let start = this.i;
    for (;;) {
      if (this.i >= this.s.length) this.fail();
      const c = this.s.charCodeAt(this.i);
      if (c === 0x22) {
        out += this.s.slice(start, this.i);
        this.i++;
        return out;
      }
      if (c < 0x20) this.fail(); // raw control characters are not JSON
      if (c === 0x5c) {
        out += this.s.slice(start, this.i);
        const e = this.s[this.i + 1];
        if (e === "u") {
          const hex = this.s.slice(this.i + 2, this.i + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail();
          out += String.fromCharCode(parseInt(hex, 16));
          this.i += 6;
        } else if (e !== undefined && Object.hasOwn(ESCAPES, e)) {
          out += ESCAPES[e];
          this.i += 2;
        } else {
          this.fail();
        }
        start = this.i;
      } else {
        this.i++;
      }
    }
  }

  enter() {
    if (++this.depth > MAX_DEPTH) this.fail();
    this.i++;
    this.ws();
  }

  array() {
    this.enter();
    const out = [];
    if (this.s[this.i] === "]") return this.i++, this.depth--, out;
    for (;;) {
      this.ws();
      out.push(this.value());
      this.ws();
      const c = this.s[this.i++];
      if (c === "]") return this.depth--, out;
      if (c !== ",") this.fail();
    }
  }

  object() {
    this.enter();
    const out = Object.create(null);
    if (this.s[this.i] === "}") return this.i++, this.depth--, out;
    for (;;) {
      this.ws();
      if (this.s[this.i] !== '"') this.fail();
      const key = this.string();
      // {"exp": 1, "exp": 9999999999}: parsers disagree on which one wins; refuse
      if (Object.hasOwn(out, key)) throw new CodecError(`duplicate member ${key}`);
      this.ws();
      if (this.s[this.i++] !== ":") this.fail();
      this.ws();
      out[key] = this.value();
      this.ws();
      const c = this.s[this.i++];
      if (c === "}") return this.depth--, out;
      if (c !== ",") this.fail();
    }
  }
}

/** The compact JSON of plain members in order, as Python's json_compact writes them. */
export function jsonCompact(value) {
  return new TextEncoder().encode(JSON.stringify(value));
}
