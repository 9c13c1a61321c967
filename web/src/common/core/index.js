// The verifier core: pure functions over WebCrypto, the same in the browser and in node.
export { CodecError, JsonFloat, b64urlDecode, b64urlEncode, jsonObject } from "./codec.js";
export { JoseError, decodeVerified, importJwk, parseJwks } from "./jose.js";
export { MAX_LIST_BYTES, decodeLst, getStatus, parseStatusList } from "./statuslist.js";
export { EARLIEST_PLAUSIBLE_MS, PROOF_TYP, buildResult, checkToken, registryFromMetadata, rfc3339, undetermined, verifyOffline } from "./verify.js";
