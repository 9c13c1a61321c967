// The service worker of one app: precaches the files of its build (the build script
// fills in __PRECACHE__ and __VERSION__) and answers for them from the cache, so the
// app opens and works with no network once it has been opened online.
//
// Only GETs inside the app's own folder are answered here; API calls go to the network
// untouched (the app itself keeps what it needs offline: keys, metadata, status lists).
/* global __PRECACHE__, __VERSION__ */
const CACHE = __VERSION__;
const PREFIX = CACHE.slice(0, CACHE.lastIndexOf("-") + 1);
const SCOPE = new URL("./", self.location).pathname;

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll(__PRECACHE__.map((name) => new Request(name, { cache: "reload" }))))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) =>
        Promise.all(keys.filter((k) => k.startsWith(PREFIX) && k !== CACHE).map((k) => caches.delete(k))),
      )
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin || !url.pathname.startsWith(SCOPE)) return;
  if (url.pathname === `${SCOPE}sw.js`) return;
  // A navigation inside the app is always its page; query strings never select a file.
  const key = request.mode === "navigate" ? SCOPE : url.pathname;
  event.respondWith(
    caches.open(CACHE).then(async (cache) => (await cache.match(key)) ?? fetch(request)),
  );
});
