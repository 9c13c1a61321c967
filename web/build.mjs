// Builds every app in src/<app>/ (index.html, main.js, style.css, manifest.webmanifest,
// app.json) into ../app/web/static/<app>/, the folder the service serves at /<app>/.
//
//   npm --prefix web ci && npm --prefix web run build
//
// Output, rebuilt from scratch each time (never edited by hand, never committed):
//   index.html, sw.js, manifest.webmanifest       fixed names, revalidated on every load
//   main.<HASH>.js, style.<HASH>.css, *.<HASH>.wasm, icon-*.<HASH>.png   immutable
//   <file>.br, <file>.gz                           precompressed twins the server picks
// The service worker precaches exactly the files of this build: its text changes with
// any of them, which is what makes the browser install the new version.
import * as esbuild from "esbuild";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";

const HERE = dirname(fileURLToPath(import.meta.url));
const SRC = join(HERE, "src");
const OUT = join(HERE, "..", "app", "web", "static");
const COMPRESSIBLE = new Set([".html", ".js", ".css", ".wasm", ".webmanifest", ".svg", ".json"]);

function hashOf(bytes) {
  // base32-ish upper case, as esbuild's [hash]: the server tells immutable files by it
  return createHash("sha256").update(bytes).digest("hex").slice(0, 8).toUpperCase();
}

function hashedName(path, bytes) {
  const ext = extname(path);
  return `${basename(path, ext)}.${hashOf(bytes)}${ext}`;
}

function write(dir, name, bytes) {
  writeFileSync(join(dir, name), bytes);
  if (!COMPRESSIBLE.has(extname(name)) || bytes.length < 512) return;
  const br = brotliCompressSync(bytes, {
    params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length },
  });
  const gz = gzipSync(bytes, { level: 9 });
  if (br.length < bytes.length) writeFileSync(join(dir, `${name}.br`), br);
  if (gz.length < bytes.length) writeFileSync(join(dir, `${name}.gz`), gz);
}

async function buildApp(app) {
  const src = join(SRC, app);
  const out = join(OUT, app);
  const config = JSON.parse(readFileSync(join(src, "app.json"), "utf8"));
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const files = []; // names served from `out`, for the service worker's precache

  // 1. Static assets copied under a content hash (e.g. the QR decoder's WebAssembly);
  //    the bundle learns their names through `define`.
  const define = {};
  for (const [constant, from] of Object.entries(config.assets ?? {})) {
    const path = from.startsWith("./") ? join(src, from) : join(HERE, "node_modules", from);
    const bytes = readFileSync(path);
    const name = hashedName(path, bytes);
    write(out, name, bytes);
    files.push(name);
    define[constant] = JSON.stringify(name);
  }

  // 2. Script and style bundles, minified, hashed.
  const result = await esbuild.build({
    entryPoints: [join(src, "main.js"), join(src, "style.css")],
    bundle: true,
    minify: true,
    format: "esm",
    target: ["chrome111", "firefox113", "safari16.4"],
    entryNames: "[name].[hash]",
    outdir: out,
    write: false,
    define,
    legalComments: "eof",
    logLevel: "warning",
  });
  const names = {};
  for (const file of result.outputFiles) {
    const name = basename(file.path);
    write(out, name, Buffer.from(file.contents));
    files.push(name);
    names[name.split(".")[0] + extname(name)] = name; // main.js -> main.ABCD1234.js
  }

  // 3. Icons (hashed) and the web manifest that names them.
  const manifest = JSON.parse(readFileSync(join(src, "manifest.webmanifest"), "utf8"));
  for (const icon of manifest.icons ?? []) {
    const path = join(src, icon.src);
    const bytes = readFileSync(path);
    const name = hashedName(path, bytes);
    write(out, name, bytes);
    files.push(name);
    names[basename(icon.src)] = name; // the page may name an icon too: {{icon-192.png}}
    icon.src = name;
  }
  write(out, "manifest.webmanifest", Buffer.from(JSON.stringify(manifest)));
  files.push("manifest.webmanifest");

  // 4. The page, pointing at this build's bundles.
  let html = readFileSync(join(src, "index.html"), "utf8");
  html = html.replace(/\{\{([\w-]+\.\w+)\}\}/g, (_, key) => {
    if (!names[key]) throw new Error(`${app}/index.html names ${key}, which was not built`);
    return names[key];
  });
  write(out, "index.html", Buffer.from(html));
  files.push("./");

  // 5. The service worker: precaches this build's files under a version of their hashes.
  const version = hashOf(Buffer.from(files.sort().join("\n") + html));
  const sw = await esbuild.build({
    entryPoints: [join(SRC, "common", "sw.js")],
    bundle: true,
    minify: true,
    format: "iife",
    write: false,
    define: {
      __PRECACHE__: JSON.stringify(files),
      __VERSION__: JSON.stringify(`${app}-${version}`),
    },
    logLevel: "warning",
  });
  write(out, "sw.js", Buffer.from(sw.outputFiles[0].contents));
  const size = readdirSync(out).length;
  console.log(`built ${app}: ${files.length} files (${size} with compressed twins) -> ${out}`);
}

const apps = readdirSync(SRC).filter((d) => existsSync(join(SRC, d, "app.json")));
for (const app of apps) await buildApp(app);
