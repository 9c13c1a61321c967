"""Issuance throughput against the ceiling of the stack, and the QR rendering cost.

One run measures, on this machine, with the same uvicorn and wrk settings throughout:

(a) ceiling: ``POST /sign`` of bench/_bare.py — a bare Litestar endpoint that only signs
    a proof-shaped ES256 JWT with `app.tokens.sign`;
(b) ``POST /v1/me/proofs`` of the real service (``statuspass serve`` on SQLite, seeded
    here: one source, N citizens with social_tariff, dev-IdP ID tokens rotated per
    request) with ``{"type": "social_tariff", "qr": []}``;
(c) the same with ``"qr": ["svg"]``;
(d) in-process, per symbol: the ``qrcode`` library with its defaults (``qrcode.make`` with
    the SVG path image) against `app.tokens.render_qr` (SVG), on a real token from (b),
    and the issuance rate the ``qrcode`` defaults would cap at.

Targets (issue 2): (b) >= 50% of (a); (c) >= 10x the rate the qrcode defaults allow.

Run from the repository root, with the venv active and wrk installed
(``apt-get install -y wrk``)::

    python bench/issuance.py                      # 10 s runs, 3 s warm-up, 32 connections
    python bench/issuance.py --rounds 3 --profile # median of 3 interleaved rounds + py-spy
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import _common as c

NO_IMAGE = b'{"type":"social_tariff","qr":[]}'
SVG = b'{"type":"social_tariff","qr":["svg"]}'


def qr_costs(token: str, n: int) -> dict[str, Any]:
    """ms per symbol: qrcode defaults (SVG path image) vs render_qr SVG, same token."""
    import qrcode
    import qrcode.image.svg

    from app.tokens import render_qr

    def qrcode_svg() -> object:
        return qrcode.make(token, image_factory=qrcode.image.svg.SvgPathImage).to_string()

    def ours_svg() -> object:
        return render_qr(token).svg

    def timed(fn: Any, count: int) -> float:
        fn()
        samples = []
        for _ in range(count):
            start = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - start)
        return statistics.median(samples) * 1000

    qrcode_ms = timed(qrcode_svg, n)
    ours_ms = timed(ours_svg, max(n, 200))
    probe = qrcode.QRCode()
    probe.add_data(token)
    probe.make()
    out: dict[str, Any] = {
        "token_chars": len(token),
        "qrcode_defaults_svg_ms": round(qrcode_ms, 3),
        "qrcode_defaults_version": probe.version,
        "qrcode_defaults_error_correction": "M (qrcode's default)",
        "render_qr_svg_ms": round(ours_ms, 3),
        "render_qr_version": render_qr(token, svg=False).version,
        "speedup": round(qrcode_ms / ours_ms, 1),
    }
    try:  # the rendering we ship must still decode to exactly the token
        import zxingcpp
        from PIL import Image

        png = render_qr(token, svg=False, png=True).png
        assert png is not None
        decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
        out["zxing_decodes_exact_token"] = bool(decoded) and decoded[0].text == token
    except ImportError:
        out["zxing_decodes_exact_token"] = None
    return out


def cpu_ratio(ceiling: c.LoadResult, measured: c.LoadResult) -> float | None:
    """Ceiling CPU per request / measured CPU per request: the ratio without contention."""
    a, b = ceiling.server_cpu_us_per_request, measured.server_cpu_us_per_request
    return round(a / b, 3) if a and b else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    c.add_load_args(parser)
    parser.add_argument("--citizens", type=int, default=64, help="seeded citizens / ID tokens")
    parser.add_argument("--qr-n", type=int, default=30, help="qrcode symbols timed in (d)")
    opts = parser.parse_args()
    c.require_wrk()
    opts.no_pin = opts.no_pin or opts.workers > 1
    work = c.workdir("issuance")
    print(f"work dir {work}  (server logs, database, keys)")
    print(
        f"wrk: {opts.threads} thread(s), {opts.connections} connections, {opts.duration} s"
        f" (+{opts.warmup} s warm-up); workers: {opts.workers}"
        f" (server: {c.SERVER}, as `statuspass serve --server` resolves it);"
        f" pinned: {not opts.no_pin}; rounds: {opts.rounds}",
        flush=True,
    )
    payload: dict[str, Any] = {
        "benchmark": "issuance",
        "command": " ".join(["python", *sys.argv]),
        "machine": c.machine(),
        "settings": {k: v for k, v in vars(opts).items()},
    }
    with (
        c.statuspass_server(work, workers=opts.workers, pin=not opts.no_pin) as api,
        c.bare_server(work, workers=opts.workers, pin=not opts.no_pin) as bare,
    ):
        seeded = c.seed(api, work, opts.citizens)
        auth = [f"Bearer {t}" for t in seeded.citizen_tokens]
        files = {
            "ceiling": c.write_requests(work / "bare.txt", [(None, NO_IMAGE)]),
            "no_image": c.write_requests(work / "noimg.txt", [(a, NO_IMAGE) for a in auth]),
            "svg": c.write_requests(work / "svg.txt", [(a, SVG) for a in auth]),
        }
        urls = {
            "ceiling": f"{bare.url}/sign",
            "no_image": f"{api.url}/v1/me/proofs",
            "svg": f"{api.url}/v1/me/proofs",
        }
        labels = {
            "ceiling": "(a) bare sign (ceiling)",
            "no_image": "(b) issuance, no image",
            "svg": "(c) issuance, SVG QR",
        }
        # Sanity: every endpoint answers 201 before it is loaded.
        r = httpx.post(urls["ceiling"], content=NO_IMAGE, timeout=10)
        assert r.status_code == 201, r.text
        headers = {"Authorization": auth[0], "Content-Type": "application/json"}
        r = httpx.post(urls["svg"], content=SVG, headers=headers, timeout=10)
        assert r.status_code == 201, r.text
        sample = r.json()
        payload["sample_proof"] = {
            "token_chars": len(sample["token"]),
            "qr_version": sample["qr_version"],
            "svg_chars": len(sample["qr_svg"] or ""),
        }
        runs: dict[str, list[c.LoadResult]] = {k: [] for k in files}
        for i in range(opts.rounds):
            print(f"round {i + 1}/{opts.rounds}", flush=True)
            for key in files:
                server = bare if key == "ceiling" else api
                runs[key].append(c.measure(labels[key], urls[key], files[key], opts, server))
        best = {k: c.median_result(v) for k, v in runs.items()}
        payload["http"] = {k: [*v] for k, v in runs.items()}

        print("(d) QR rendering, in-process, per symbol ...", flush=True)
        qr = qr_costs(sample["token"], opts.qr_n)
        payload["qr"] = qr

        # (b) against the ceiling's run of the same round (`median_round`)
        best["no_image"], best["ceiling"] = c.median_round(runs["no_image"], runs["ceiling"])
        ceiling, no_image, svg = best["ceiling"].rps, best["no_image"].rps, best["svg"].rps
        # The rate the qrcode defaults would allow on the same worker count: rendering
        # alone, an upper bound (the rest of issuance would only lower it further).
        qrcode_cap = opts.workers * 1000 / qr["qrcode_defaults_svg_ms"]
        qrcode_cap_with_rest = opts.workers / (qr["qrcode_defaults_svg_ms"] / 1000 + 1 / no_image)
        ratio_b = no_image / ceiling
        ratio_c = svg / qrcode_cap
        bad = {k: v.non_2xx + v.errors for k, v in best.items() if v.non_2xx or v.errors}
        targets = {
            "no_image_vs_ceiling": {
                "ratio": round(ratio_b, 3),
                "cpu_ratio": cpu_ratio(best["ceiling"], best["no_image"]),
                "target": 0.5,
                "pass": ratio_b >= 0.5 and not bad,
            },
            "svg_vs_qrcode_defaults": {
                "ratio": round(ratio_c, 1),
                "target": 10,
                "pass": ratio_c >= 10 and not bad,
            },
        }
        payload["summary"] = {
            "ceiling_rps": round(ceiling, 1),
            "no_image_rps": round(no_image, 1),
            "svg_rps": round(svg, 1),
            "qrcode_defaults_cap_rps": round(qrcode_cap, 1),
            "qrcode_defaults_cap_with_rest_of_issuance_rps": round(qrcode_cap_with_rest, 1),
            "failed_requests": bad,
            "targets": targets,
        }

        if opts.profile or not all(t["pass"] for t in targets.values()):
            payload["profiles"] = {}
            for key in ("no_image", "svg"):
                out = c.RESULTS / f"issuance-{key}-{time.strftime('%Y%m%dT%H%M%S')}.pyspy.txt"
                c.RESULTS.mkdir(parents=True, exist_ok=True)

                summary = c.profile_endpoint(api, opts, key, labels, urls, files, out, 30)
                if summary is not None:
                    payload["profiles"][key] = summary

    print()
    print(f"{'measure':44} {'value':>12}")
    for key, name in (
        ("ceiling", "(a) ceiling: bare sign, req/s"),
        ("no_image", "(b) issuance without image, req/s"),
        ("svg", "(c) issuance with SVG QR, req/s"),
    ):
        cpu = best[key].server_cpu_us_per_request or 0
        print(f"{name:44} {best[key].rps:12.0f}   (server CPU {cpu:.0f} µs/req)")
    print(f"{'(d) qrcode defaults SVG, ms/symbol':44} {qr['qrcode_defaults_svg_ms']:12.2f}")
    print(f"{'(d) render_qr SVG, ms/symbol':44} {qr['render_qr_svg_ms']:12.3f}")
    print(f"{'(d) render_qr speed-up over qrcode':44} {qr['speedup']:11.1f}x")
    print(f"{'(d) qrcode defaults cap (render only), /s':44} {qrcode_cap:12.1f}")
    print(f"{'(d) qrcode defaults cap (+ rest), /s':44} {qrcode_cap_with_rest:12.1f}")
    print(
        f"QR: token {qr['token_chars']} chars, render_qr version {qr['render_qr_version']}"
        f" (qrcode defaults: version {qr['qrcode_defaults_version']}),"
        f" zxing-cpp reads back the token: {qr['zxing_decodes_exact_token']}"
    )
    if bad:
        print(f"failed requests (non-2xx or socket errors) in the medians: {bad}")
    print()
    print(f"{'target':44} {'ratio':>8} {'goal':>8}  verdict")
    print(
        f"{'(b)/(a) issuance without image / ceiling':44} {ratio_b:8.1%} {'>= 50%':>8}"
        f"  {c.verdict(targets['no_image_vs_ceiling']['pass'])}"
        f"   (by server CPU per request: {targets['no_image_vs_ceiling']['cpu_ratio']:.1%})"
    )
    print(
        f"{'(c)/(d) SVG issuance / qrcode-defaults cap':44} {ratio_c:7.1f}x {'>= 10x':>8}"
        f"  {c.verdict(targets['svg_vs_qrcode_defaults']['pass'])}"
    )
    for key, prof_info in payload.get("profiles", {}).items():
        print(f"\nself time by package during {labels[key]}:")
        print("  " + ", ".join(f"{k} {v:.1f}%" for k, v in prof_info["self_by_package"][:10]))
        print("hot spots in app/ (inclusive %, self %):")
        for frame, own, incl in prof_info["app_hot_spots"][:12]:
            print(f"  {incl:5.1f}% {own:5.1f}%  {frame}")
        print(f"  (raw collapsed stacks: {prof_info['raw']})")
    path = c.save("issuance", payload)
    print(f"\nresults: {path}")
    print(json.dumps(payload["summary"]["targets"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
