// The camera scanner: the browser's own BarcodeDetector where it reads QR codes, else
// the ZXing WebAssembly polyfill, whose .wasm the service serves itself (the build
// copies it under a content hash, __ZXING_WASM__; the polyfill's default is a CDN).
import { BarcodeDetector as ZXingDetector, prepareZXingModule } from "barcode-detector/ponyfill";

/* global __ZXING_WASM__ */
let detecting = null;

function detector() {
  detecting ??= (async () => {
    const Native = globalThis.BarcodeDetector;
    if (Native) {
      try {
        if ((await Native.getSupportedFormats()).includes("qr_code")) return new Native({ formats: ["qr_code"] });
      } catch {
        // a stub without support: fall through to the polyfill
      }
    }
    const wasm = new URL(__ZXING_WASM__, document.baseURI).href;
    await prepareZXingModule({
      overrides: { locateFile: (path, prefix) => (path.endsWith(".wasm") ? wasm : prefix + path) },
      fireImmediately: true,
    });
    return new ZXingDetector({ formats: ["qr_code"] });
  })();
  return detecting;
}

/** Load the decoder ahead of the first scan (it is precached for offline use). */
export function warmUp() {
  detector().catch(() => {});
}

export class Scanner {
  /** `onCode(text)` gets the first QR code read; the camera stops then. */
  constructor(video, onCode) {
    this.video = video;
    this.onCode = onCode;
    this.stream = null;
    this.running = false;
  }

  async start() {
    if (this.running) return;
    const [stream, reader] = await Promise.all([
      navigator.mediaDevices.getUserMedia({
        audio: false,
        video: { facingMode: { ideal: "environment" }, width: { ideal: 1280 }, height: { ideal: 720 } },
      }),
      detector(),
    ]);
    this.stream = stream;
    this.running = true;
    this.video.hidden = false;
    this.video.srcObject = stream;
    await this.video.play();
    performance.mark("statuspass:scanner-ready");
    this.loop(reader);
  }

  nextFrame() {
    return new Promise((resolve) => {
      if (this.video.requestVideoFrameCallback) this.video.requestVideoFrameCallback(() => resolve());
      else requestAnimationFrame(() => resolve());
    });
  }

  async loop(reader) {
    while (this.running) {
      await this.nextFrame();
      if (!this.running) return;
      // the frame reaches the page: the bench measures from here to the verdict shown
      performance.clearMarks("statuspass:frame");
      performance.mark("statuspass:frame");
      let codes = [];
      try {
        codes = await reader.detect(this.video);
      } catch {
        continue; // a frame not ready yet
      }
      const text = codes.find((c) => c.rawValue)?.rawValue;
      if (text && this.running) {
        this.stop();
        this.onCode(text);
        return;
      }
    }
  }

  stop() {
    this.running = false;
    for (const track of this.stream?.getTracks() ?? []) track.stop();
    this.stream = null;
    this.video.srcObject = null;
    this.video.hidden = true;
  }
}
