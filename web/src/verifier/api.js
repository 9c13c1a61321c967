// The service's verifier API, on this origin. A network failure (or no answer within
// TIMEOUT_MS) is an OfflineError: proofs are then verified on the device.
const TIMEOUT_MS = 8000;

export class OfflineError extends Error {}

/** An HTTP error answer (RFC 9457 problem details in `problem`). */
export class ApiError extends Error {
  constructor(status, problem, retryAfter) {
    super(problem?.detail ?? `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
    this.retryAfter = retryAfter;
  }
}

async function call(path, { apiKey, lang, body }) {
  let response;
  try {
    response = await fetch(path, {
      method: body === undefined ? "GET" : "POST",
      headers: {
        Authorization: `Bearer ${apiKey}`,
        "Accept-Language": lang,
        ...(body === undefined ? {} : { "Content-Type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      credentials: "omit",
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (exc) {
    throw new OfflineError(exc.message);
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    // a body that is not JSON: the status says enough
  }
  if (!response.ok) throw new ApiError(response.status, data, response.headers.get("Retry-After"));
  return data;
}

export const whoami = (apiKey, lang) => call("/v1/clients/me", { apiKey, lang });
export const verifyToken = (apiKey, lang, token) => call("/v1/verify", { apiKey, lang, body: { token } });
export const verifyCode = (apiKey, lang, code) => call("/v1/verify", { apiKey, lang, body: { code } });
export const checkCard = (apiKey, lang, cardNumber) =>
  call("/v1/parking-cards/check", { apiKey, lang, body: { card_number: cardNumber } });
