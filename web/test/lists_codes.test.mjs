// tests/vectors/status_lists.json and codes.json against the browser: its status-list
// parser (the same cases as tests/unit/tokens/test_vectors_lists_codes.py) and what the
// verifier's input field makes of a typed code.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { JoseError, getStatus, parseJwks, parseStatusList } from "../src/common/core/index.js";
import { classify } from "../src/verifier/input.js";

const load = (name) => JSON.parse(readFileSync(new URL(`../../tests/vectors/${name}`, import.meta.url), "utf8"));
const LISTS = load("status_lists.json");
const CODES = load("codes.json");
const keys = await parseJwks(LISTS.jwks);

for (const c of LISTS.valid) {
  test(`status list ${c.name}`, async () => {
    const list = await parseStatusList(c.token, keys);
    assert.deepEqual([list.uri, list.iat, list.exp, list.ttl], [c.uri, c.iat, c.exp, c.ttl]);
    for (const [idx, value] of Object.entries(c.statuses)) assert.equal(getStatus(list.packed, Number(idx)), value, idx);
    assert.throws(() => getStatus(list.packed, c.beyond), RangeError);
  });
}

for (const c of LISTS.invalid) {
  test(`status list ${c.name}`, async () => {
    await assert.rejects(parseStatusList(c.token, keys), (exc) => exc instanceof JoseError && exc.reason === c.reason);
  });
}

for (const c of CODES.valid) {
  test(`code ${JSON.stringify(c.typed)}`, () => {
    assert.deepEqual(classify(c.typed), { kind: "code", value: c.digits });
  });
}

for (const c of CODES.invalid) {
  test(`code refused: ${c.why}`, () => {
    assert.notEqual(classify(c.typed).kind, "code");
  });
}
