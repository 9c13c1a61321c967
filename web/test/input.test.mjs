// What the "Code or token" field makes of what is typed or scanned, and the strings of
// every language.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { classify, codeCheck } from "../src/verifier/input.js";

const code = (first10) => first10 + codeCheck(first10);

test("a scanned proof is a token, whitespace and all", () => {
  assert.deepEqual(classify("  eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJ4In0.c2ln\n"), {
    kind: "token",
    value: "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJ4In0.c2ln",
  });
});

test("a 12-digit code with spaces or dashes, its check digits verified", () => {
  const c = code("1234567890");
  assert.equal(c, "123456789095"); // 97 - 1234567890 % 97 = 95, as app/tokens/codes.py
  assert.deepEqual(classify(`${c.slice(0, 4)} ${c.slice(4, 8)}-${c.slice(8)}`), { kind: "code", value: c });
  assert.deepEqual(classify(c.slice(0, 11) + ((Number(c[11]) + 1) % 10)), { kind: "bad_code" });
});

test("a 10-digit card number, and what is none of these", () => {
  assert.deepEqual(classify("12345 67890"), { kind: "card", value: "1234567890" });
  assert.deepEqual(classify(""), { kind: "empty" });
  for (const junk of ["12345", "1234567890123", "hello", "a.b", "１２３４５６７８９０"]) {
    assert.equal(classify(junk).kind, "unknown", junk);
  }
});

test("every language has every string, with the same placeholders", () => {
  const load = (lang) => JSON.parse(readFileSync(new URL(`../src/verifier/strings/${lang}.json`, import.meta.url)));
  const en = load("en");
  const holes = (s) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
  for (const lang of ["nl", "fr", "de"]) {
    const other = load(lang);
    assert.deepEqual(Object.keys(other).sort(), Object.keys(en).sort(), lang);
    for (const key of Object.keys(en)) assert.deepEqual(holes(other[key]), holes(en[key]), `${lang}.${key}`);
  }
});
