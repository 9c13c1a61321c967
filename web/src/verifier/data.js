// What the device keeps to verify offline: the issuer metadata (registry, clock skew),
// the JWKS and the status lists, as the service signed them, in the Cache API. Each is
// refreshed while online (conditional GETs: a 304 costs a few bytes) and checked again
// by the verifier core before use: a refused list or key set never replaces a good one.
import { JoseError, parseJwks, parseStatusList, registryFromMetadata } from "../common/core/index.js";

const CACHE = "data-verifier-v1";
/** How long cached keys are trusted offline (the CLI's --keys-max-age default). */
export const KEYS_MAX_AGE_S = 86_400;
const METADATA_REFRESH_S = 3600;
const JWKS_REFRESH_S = 300;
const MAX_LISTS = 64;

export class OfflineData {
  constructor() {
    this.metadata = null;
    this.registry = null;
    this.jwks = null; // {keys, fetchedAtMs, maxAgeS}
    this.lists = new Map(); // uri -> parsed list
    this.fetched = new Map(); // path -> {fetchedAtMs, etag}
    this.listIndex = null; // the URIs of the lists the service publishes
    this.refreshing = null;
  }

  get ready() {
    return this.jwks !== null && this.registry !== null;
  }

  /** Age in whole minutes of the oldest cached list (by its signing time), or null. */
  listAgeMinutes(nowMs = Date.now()) {
    let oldest = null;
    for (const list of this.lists.values()) oldest = oldest === null ? list.iat : Math.min(oldest, list.iat);
    return oldest === null ? null : Math.max(0, Math.floor((nowMs / 1000 - oldest) / 60));
  }

  /** Minutes since the last successful refresh of the keys, or null. */
  refreshedMinutesAgo(nowMs = Date.now()) {
    return this.jwks === null ? null : Math.max(0, Math.floor((nowMs - this.jwks.fetchedAtMs) / 60000));
  }

  /** Read what an earlier visit stored. */
  async load() {
    const cache = await caches.open(CACHE);
    const metadata = await readStored(cache, "/.well-known/statuspass");
    const jwks = await readStored(cache, "/.well-known/jwks.json");
    if (metadata) this.useMetadata(JSON.parse(metadata.text), metadata);
    if (jwks) await this.useJwks(jwks.text, jwks);
    const index = await readStored(cache, "/v1/status-lists");
    if (index) {
      this.listIndex = JSON.parse(index.text).status_lists ?? [];
      this.fetched.set("/v1/status-lists", index);
    }
    if (!this.jwks) return;
    for (const request of await cache.keys()) {
      const path = new URL(request.url).pathname;
      if (!path.startsWith("/v1/status-lists/")) continue; // the lists themselves
      const stored = await readStored(cache, path);
      if (stored) await this.useList(path, stored.text, stored);
    }
  }

  /** Fetch what is due (everything when `force`); resolves to true when online. */
  refresh({ force = false } = {}) {
    this.refreshing ??= this.refreshNow(force).finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  async refreshNow(force) {
    const cache = await caches.open(CACHE);
    const got = await this.fetchDue(cache, "/.well-known/statuspass", force ? 0 : METADATA_REFRESH_S);
    if (got?.text) this.useMetadata(JSON.parse(got.text), got);
    const keys = await this.fetchDue(cache, "/.well-known/jwks.json", force ? 0 : JWKS_REFRESH_S);
    if (keys?.text) await this.useJwks(keys.text, keys);
    else if (keys && this.jwks) this.jwks = { ...this.jwks, fetchedAtMs: keys.fetchedAtMs };
    if (!this.metadata || !this.jwks) return false;
    // Every published list, whichever proof comes next: fetching all of them says
    // nothing about whom this device checks.
    const index = await this.fetchDue(cache, "/v1/status-lists", force ? 0 : JWKS_REFRESH_S / 4);
    if (index?.text) this.listIndex = JSON.parse(index.text).status_lists ?? [];
    const base = this.metadata.status_list_base;
    for (const uri of (this.listIndex ?? []).slice(0, MAX_LISTS)) {
      if (typeof uri !== "string" || !uri.startsWith(base)) continue;
      const path = new URL(uri).pathname;
      const known = this.lists.get(uri);
      const due = force || !known ? 0 : Math.max(30, Math.floor(known.ttl / 2));
      const list = await this.fetchDue(cache, path, due);
      if (list?.text) await this.useList(path, list.text, list);
    }
    return true;
  }

  /**
   * GET `path` unless fetched less than `dueS` seconds ago. Resolves to null for a 404
   * or no network, {text} when new, {} when unchanged (304) or not due.
   */
  async fetchDue(cache, path, dueS) {
    const seen = this.fetched.get(path);
    const now = Date.now();
    if (seen && now - seen.fetchedAtMs < dueS * 1000) return {};
    let response;
    try {
      response = await fetch(path, {
        cache: "no-cache",
        credentials: "omit",
        headers: seen?.etag ? { "If-None-Match": seen.etag } : {},
        signal: AbortSignal.timeout(10_000),
      });
    } catch {
      return null;
    }
    if (response.status === 304 && seen) {
      seen.fetchedAtMs = now;
      await touchStored(cache, path, now);
      return { fetchedAtMs: now };
    }
    if (!response.ok) return null;
    const text = await response.text();
    const etag = response.headers.get("ETag");
    await cache.put(path, new Response(text, { headers: { "X-Fetched-At": String(now), ETag: etag ?? "" } }));
    return { text, fetchedAtMs: now, etag };
  }

  useMetadata(metadata, { fetchedAtMs, etag }) {
    this.metadata = metadata;
    this.registry = registryFromMetadata(metadata.entitlement_types ?? []);
    this.fetched.set("/.well-known/statuspass", { fetchedAtMs, etag });
  }

  async useJwks(text, { fetchedAtMs, etag }) {
    try {
      const keys = await parseJwks(text);
      this.jwks = { keys, fetchedAtMs, maxAgeS: KEYS_MAX_AGE_S };
      this.fetched.set("/.well-known/jwks.json", { fetchedAtMs, etag });
    } catch (exc) {
      if (!(exc instanceof JoseError)) throw exc;
      console.warn("key set refused:", exc.message);
    }
  }

  async useList(path, text, { fetchedAtMs, etag }) {
    if (!this.jwks || !this.metadata) return;
    const base = new URL(this.metadata.status_list_base);
    const uri = `${base.href}${path.slice(base.pathname.length)}`;
    try {
      const list = await parseStatusList(text.trim(), this.jwks.keys, { uri });
      this.lists.set(list.uri, { ...list, path });
      this.fetched.set(path, { fetchedAtMs, etag });
    } catch (exc) {
      if (!(exc instanceof JoseError)) throw exc;
      console.warn("status list refused:", path, exc.message);
    }
  }

  /** Remove everything stored (Forget this device). */
  async clear() {
    await caches.delete(CACHE);
    this.metadata = this.registry = this.jwks = null;
    this.lists.clear();
    this.fetched.clear();
    this.listIndex = null;
  }
}

async function readStored(cache, path) {
  const response = await cache.match(path);
  if (!response) return null;
  return {
    text: await response.text(),
    fetchedAtMs: Number(response.headers.get("X-Fetched-At")) || 0,
    etag: response.headers.get("ETag") || null,
  };
}

async function touchStored(cache, path, now) {
  const response = await cache.match(path);
  if (!response) return;
  const headers = new Headers(response.headers);
  headers.set("X-Fetched-At", String(now));
  await cache.put(path, new Response(await response.text(), { headers }));
}
