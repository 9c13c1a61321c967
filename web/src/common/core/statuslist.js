// IETF Token Status List, mirroring app/tokens/statuslist.py: entry i of a 2-bit list is
// bits (2i % 8).. of byte floor(2i / 8); 0 valid, 1 revoked, 2 suspended.
import { CodecError, b64urlDecode } from "./codec.js";
import { JoseError, decodeVerified } from "./jose.js";

export const STATUS_VALID = 0;
export const STATUS_INVALID = 1;
export const STATUS_SUSPENDED = 2;
export const STATUS_LIST_TYP = "statuslist+jwt";
/** Decompression bound (16 MiB): refuses a "zip bomb" however small its input. */
export const MAX_LIST_BYTES = 2 ** 24;
export const MAX_LIST_TOKEN_LEN = 4 * 2 ** 20;

/** Entry `idx` of a 2-bit list; RangeError beyond it (Python's IndexError). */
export function getStatus(packed, idx) {
  if (typeof idx === "bigint" || idx < 0) throw new RangeError("status index out of range");
  const byte = Math.floor((idx * 2) / 8);
  if (byte >= packed.length) throw new RangeError("status index out of range");
  return (packed[byte] >> ((idx * 2) % 8)) & 3;
}

/**
 * base64url(zlib(bytes)) -> bytes, with DecompressionStream ("deflate" is the zlib
 * format, RFC 1950). Refuses bad base64url, bad or truncated zlib, trailing data and
 * more than MAX_LIST_BYTES of output, as decode_lst does.
 */
export async function decodeLst(lst) {
  let compressed;
  try {
    compressed = b64urlDecode(lst);
  } catch (exc) {
    if (exc instanceof CodecError) throw new JoseError("malformed", `status list: ${exc.message}`);
    throw exc;
  }
  const packed = await inflate(compressed);
  // Some DecompressionStreams (node's, older browsers') ignore bytes after the end of
  // the stream. The stream without its last byte tells: a whole zlib stream ends with
  // its checksum, so it is truncated without it unless something followed it.
  if (compressed.length > 0 && (await inflates(compressed.subarray(0, compressed.length - 1)))) {
    throw new JoseError("malformed", "status list: truncated or trailing data");
  }
  return packed;
}

async function inflates(bytes) {
  try {
    await inflate(bytes);
    return true;
  } catch {
    return false;
  }
}

async function inflate(compressed) {
  const stream = new Blob([compressed]).stream().pipeThrough(new DecompressionStream("deflate"));
  const reader = stream.getReader();
  const chunks = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.length;
      if (size > MAX_LIST_BYTES) {
        // bounds memory whatever the compression ratio of the input
        reader.cancel().catch(() => {});
        throw new JoseError("malformed", "status list too large");
      }
      chunks.push(value);
    }
  } catch (exc) {
    if (exc instanceof JoseError) throw exc;
    // truncated input, a bad checksum or (where detected) data after the stream's end
    throw new JoseError("malformed", "status list: truncated, corrupt or trailing data");
  }
  const packed = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    packed.set(chunk, at);
    at += chunk.length;
  }
  return packed;
}

function isInt(v) {
  return (typeof v === "number" && Number.isInteger(v)) || typeof v === "bigint";
}

/**
 * Verify a status-list JWT with `keys` and decode its list (parse_status_list):
 * resolves to {uri, iat, exp, ttl, packed}; JoseError for anything it refuses.
 */
export async function parseStatusList(token, keys, { uri = null, maxLen = MAX_LIST_TOKEN_LEN } = {}) {
  const { claims } = await decodeVerified(token, keys, { typ: STATUS_LIST_TYP, maxLen });
  const sl = claims.status_list;
  const ok =
    typeof claims.sub === "string" &&
    isInt(claims.iat) &&
    isInt(claims.exp) &&
    isInt(claims.ttl) &&
    claims.ttl >= 0 &&
    sl !== null &&
    typeof sl === "object" &&
    !Array.isArray(sl) &&
    isInt(sl.bits) &&
    typeof sl.lst === "string";
  if (!ok) {
    throw new JoseError("malformed", "status list claims");
  }
  if (sl.bits !== 2) throw new JoseError("malformed", "only 2-bit status lists are supported");
  if (uri !== null && claims.sub !== uri) throw new JoseError("malformed", "status list sub does not match its URI");
  if (claims.exp <= claims.iat) throw new JoseError("malformed", "status list exp must be after iat");
  return {
    uri: claims.sub,
    iat: Number(claims.iat),
    exp: Number(claims.exp),
    ttl: Number(claims.ttl),
    packed: await decodeLst(sl.lst),
  };
}
