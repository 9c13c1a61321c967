// The Statuspass API as the citizen uses it: own rights, proofs, who checked them.
// Every call carries the session's token; none carries personal data in its URL.

export class ApiError extends Error {
  /** `kind`: offline (no answer), auth (401: log in again), failed (anything else). */
  constructor(kind, status, detail) {
    super(detail ?? kind);
    this.kind = kind;
    this.status = status;
  }
}

export function createApi(tokenOf) {
  async function call(path, init = {}) {
    const token = tokenOf();
    if (!token) throw new ApiError("auth", 401);
    let response;
    try {
      response = await fetch(path, {
        ...init,
        cache: "no-store",
        credentials: "omit",
        headers: { ...init.headers, Authorization: `Bearer ${token}` },
      });
    } catch {
      throw new ApiError("offline", 0);
    }
    if (response.status === 401) throw new ApiError("auth", 401);
    if (!response.ok) {
      let detail;
      try {
        detail = (await response.json()).detail;
      } catch {
        detail = undefined;
      }
      throw new ApiError("failed", response.status, detail);
    }
    return response.json();
  }

  return {
    rights: async () => (await call("/v1/me/entitlements")).entitlements,
    checks: async () => call("/v1/me/verifications"),
    // qr: ["svg"]: the service draws the QR (quiet zone included) in the same step
    proof: (type) =>
      call("/v1/me/proofs", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ type, qr: ["svg"] }),
      }),
  };
}

/** Public metadata: the entitlement types with their labels in nl/fr/de/en. */
export async function fetchTypes() {
  const response = await fetch("/.well-known/statuspass", { credentials: "omit" });
  if (!response.ok) throw new ApiError("failed", response.status);
  const doc = await response.json();
  return Object.fromEntries(doc.entitlement_types.map((t) => [t.id, t]));
}
