// The device's setup: the organisation's API key and who it is, kept in this browser's
// localStorage on this device only (never in a URL), until "Forget this device".
const KEY = "statuspass.verifier.device";

export function loadDevice() {
  try {
    const device = JSON.parse(localStorage.getItem(KEY) ?? "null");
    return device && typeof device.apiKey === "string" ? device : null;
  } catch {
    return null;
  }
}

export function saveDevice(apiKey, client) {
  localStorage.setItem(KEY, JSON.stringify({ apiKey, client }));
}

export function forgetDevice() {
  localStorage.removeItem(KEY);
}
