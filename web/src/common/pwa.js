// Registers the app's service worker (sw.js beside the page): after one visit online,
// the app opens and works with no network. Resolves when a worker controls the page.
export async function registerServiceWorker() {
  if (!("serviceWorker" in navigator)) return null;
  try {
    const registration = await navigator.serviceWorker.register("sw.js", { scope: "./" });
    await navigator.serviceWorker.ready;
    return registration;
  } catch (exc) {
    console.warn("service worker not registered:", exc.message);
    return null;
  }
}
