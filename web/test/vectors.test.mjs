// The browser's verifier core against every case of tests/vectors/tokens.json, the same
// file the Python verifier runs (tests/unit/tokens/test_vectors.py): same result, same
// reason. Each case's lists go through the browser's own list parser first; a list it
// refuses is not in its cache, exactly as in the Python harness.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { JoseError, parseJwks, parseStatusList, registryFromMetadata, verifyOffline } from "../src/common/core/index.js";

const VECTORS = JSON.parse(readFileSync(new URL("../../tests/vectors/tokens.json", import.meta.url), "utf8"));
const registry = registryFromMetadata(VECTORS.entitlement_types);
const keys = await parseJwks(VECTORS.jwks);
const DISCLOSING = new Set(["revoked", "suspended", "expired"]);

for (const [group, c] of ["valid", "invalid", "undetermined"].flatMap((g) => VECTORS[g].map((c) => [g, c]))) {
  test(c.name, async () => {
    const statusLists = new Map();
    for (const token of c.status_lists) {
      try {
        const list = await parseStatusList(token, keys);
        statusLists.set(list.uri, list);
      } catch (exc) {
        if (!(exc instanceof JoseError)) throw exc;
      }
    }
    const result = await verifyOffline(c.token, {
      jwks: { keys, fetchedAtMs: c.jwks_fetched_at * 1000, maxAgeS: c.jwks_max_age_s },
      statusLists,
      nowMs: c.now * 1000,
      registry,
      allowedTypes: c.allowed_types,
    });
    assert.deepEqual({ result: result.result, reason: result.reason }, c.expected);
    assert.equal(result.result, group);
    if (result.result !== "valid" && !DISCLOSING.has(result.reason)) {
      assert.equal(result.holder, null);
      assert.equal(result.entitlement, null);
    }
  });
}

test("the vectors hold no private key", () => {
  for (const jwk of VECTORS.jwks.keys) assert.ok(!("d" in jwk));
});
