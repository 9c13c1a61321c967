// What was typed or scanned into "Code or token": a proof (compact JWS, as a scanner
// types the QR's text), a 12-digit code, or a 10-digit parking card number.
const JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** The two check digits of a code's first ten (app/tokens/codes.py: 97 - n % 97). */
export function codeCheck(first10) {
  return String(97 - (Number(first10) % 97)).padStart(2, "0");
}

/**
 * -> {kind: "token"|"code"|"card", value} or {kind: "empty"|"bad_code"|"unknown"}.
 * Spaces and dashes are allowed in numbers (1234 5678 9012, 1234-5678-9012); a code
 * whose check digits do not match is a typo, refused before it costs a lookup.
 */
export function classify(text) {
  const trimmed = String(text ?? "").trim();
  if (!trimmed) return { kind: "empty" };
  if (JWS.test(trimmed)) return { kind: "token", value: trimmed };
  const digits = trimmed.replace(/[\s-]/g, "");
  if (/^[0-9]{12}$/.test(digits)) {
    return digits.slice(10) === codeCheck(digits.slice(0, 10)) ? { kind: "code", value: digits } : { kind: "bad_code" };
  }
  if (/^[0-9]{10}$/.test(digits)) return { kind: "card", value: digits };
  return { kind: "unknown" };
}
