"""Per-inference latency of wasi-nn: a guest asking the host's onnxruntime vs the same math in the sandbox.

    python benchmarks/nn.py [--quick] [--json out.json]

The model is examples/nn's digits classifier (64 → 256 ReLU → 10 softmax, trained at build time on
scikit-learn's bundled digits). Measured in the same run, on the same images:

  onnxruntime direct   Python calls `InferenceSession.run` itself (pixels → float32 included)
  guest → wasi-nn      `classifier.classify` of examples/nn/cli.wasm on a warm instance: the Python guest
                       builds the tensor, crosses into the host (load-by-name, init-execution-context,
                       compute, two output reads), onnxruntime runs it
  guest, pure Python   `classifier.classify-pure`: the same network as Python lists inside the sandbox
  HTTP /classify       examples/nn/app.wasm through the HTTP trigger in-process: a fresh instance per
                       request, so instantiation and the wasi:http plumbing are in it

Copies: a [256, 64] FP32 batch (64 KiB in, 12 KiB out) through HTTP `/infer` against a [1, 64] one, less
the extra time onnxruntime itself needs for the bigger batch: what moving the tensor bytes costs on the
whole guest path (HTTP body, the guest's Python, the wasi-nn boundary both ways), per KiB.

Ratios: guest → wasi-nn over onnxruntime direct (the price of the sandbox and the boundary), and guest
pure Python over guest → wasi-nn (what host-accelerated inference saves).
"""

from __future__ import annotations

import sys

# Run as a script, this directory is sys.path[0]: keep it off the import path (a benchmark module must never shadow a stdlib name).
if sys.path and sys.path[0] and __file__.startswith(sys.path[0]) and __name__ == "__main__":
    sys.path.pop(0)

import json
import platform
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def _per_call(fn: Callable[[int], Any], n: int, repeat: int) -> float:
    """Best-of-`repeat` mean seconds per call of `fn(i)` over `n` calls."""
    best = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for i in range(n):
            fn(i)
        best.append((time.perf_counter() - t0) / n)
    return min(best)


def _example() -> Any:
    sys.path.insert(0, str(ROOT / "examples" / "nn"))
    try:
        import build
    finally:
        sys.path.pop(0)
    return build


def run(quick: bool = False, cache_dir: Path | None = None) -> dict[str, Any]:
    """Measure every case; returns the rows, the ratios, and whether every path agreed on every label."""
    import numpy as np
    import onnxruntime as ort
    from sklearn.datasets import load_digits

    from wasmhive import Runtime
    from wasmhive.app import App
    from wasmhive.capabilities.nn import NnApp, NnInstance, NnLimits, OnnxModel, link_nn
    from wasmhive.http import Request

    app_wasm, cli_wasm, onnx = _example().build(cache_dir)
    images = [bytes(row) for row in load_digits().data.astype(np.uint8)[:64]]
    n, repeat, pure_n = (64, 2, 8) if quick else (640, 5, 64)

    # Same thread settings as the host's sessions (one intra-op thread), so "direct" is the same engine.
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    session = ort.InferenceSession(str(onnx), sess_options=opts, providers=["CPUExecutionProvider"])

    def direct(i: int) -> int:
        x = np.frombuffer(images[i % len(images)], dtype=np.uint8).astype(np.float32)[None, :] / np.float32(16)
        return int(session.run(None, {"input": x})[0][0])

    rows: dict[str, float] = {}
    labels: dict[str, list[int]] = {}
    labels["onnxruntime direct"] = [direct(i) for i in range(len(images))]
    rows["onnxruntime direct"] = _per_call(direct, n, repeat)

    with Runtime(concurrency=False) as rt:  # the HTTP trigger's engine settings
        comp = rt.component(cli_wasm)
        model = OnnxModel("digits", str(onnx))
        state = NnInstance({"digits": model}, NnApp({"digits": model}, {}, NnLimits()))
        with comp.linker.root() as root:
            link_nn(root, lambda: state)
        classifier = comp.exports["wasmhive:nn-example/classifier"]
        labels["guest → wasi-nn"] = [classifier.classify(img) for img in images]
        rows["guest → wasi-nn"] = _per_call(lambda i: classifier.classify(images[i % len(images)]), n, repeat)
        labels["guest, pure Python"] = [classifier.classify_pure(img) for img in images]
        rows["guest, pure Python"] = _per_call(lambda i: classifier.classify_pure(images[i % len(images)]),
                                               pure_n, repeat)

        tmp = Path(tempfile.mkdtemp(prefix="nn-bench-"))
        try:
            shutil.copyfile(app_wasm, tmp / "app.wasm")
            shutil.copyfile(onnx, tmp / "digits.onnx")
            (tmp / "wasmhive.toml").write_text(
                '[application]\nname = "nn-bench"\n[[trigger.http]]\nroute = "/..."\ncomponent = "d"\n'
                '[component.d]\nsource = "app.wasm"\nnn_models = ["digits"]\n')
            (tmp / "runtime-config.toml").write_text('[nn_model.digits]\npath = "digits.onnx"\n')
            with App.load(tmp, runtime=rt) as app:
                h = app.http_app(close_app=False)

                def http(i: int) -> int:
                    r = h.handle(Request("POST", "/classify", body=images[i % len(images)],
                                         headers=[("host", "127.0.0.1")]))
                    return int(json.loads(r.text)["label"])
                labels["HTTP /classify"] = [http(i) for i in range(len(images))]
                rows["HTTP /classify"] = _per_call(http, max(n // 8, 8), repeat)

                def batch(rows_: int) -> tuple[float, float]:
                    x = np.tile(np.frombuffer(images[0], dtype=np.uint8).astype("<f4") / 16, (rows_, 1))
                    body, query = x.tobytes(), f"model=digits&input=input&type=FP32&dims={rows_},64"

                    def via_http(_: int) -> None:
                        r = h.handle(Request("POST", "/infer", query=query, body=body, headers=[("host", "h")]))
                        assert r.status == 200, r.text
                    k = max(n // 16, 4)
                    return (_per_call(via_http, k, repeat),
                            _per_call(lambda _: session.run(None, {"input": x}), k * 4, repeat))
                (h1, d1), (h256, d256) = batch(1), batch(256)
                kib = (256 - 1) * (64 * 4 + 8 + 40) / 1024  # extra input + output bytes of the big batch
                copy_us_per_kib = ((h256 - h1) - (d256 - d1)) * 1e6 / kib
                h.close()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    want = labels["onnxruntime direct"]
    return {
        "mode": "quick" if quick else "full",
        "python": platform.python_version(),
        "onnxruntime": ort.__version__,
        "us_per_inference": {k: round(v * 1e6, 1) for k, v in rows.items()},
        "ratios": {
            "guest → wasi-nn / onnxruntime direct": round(rows["guest → wasi-nn"] / rows["onnxruntime direct"], 2),
            "guest pure Python / guest → wasi-nn": round(rows["guest, pure Python"] / rows["guest → wasi-nn"], 2),
        },
        "labels_agree": all(v == want for v in labels.values()),
        "tensor_bytes_us_per_kib": round(copy_us_per_kib, 2),
        "images": len(images),
    }


def table(report: dict[str, Any]) -> str:
    """The report as a Markdown table."""
    lines = ["| path | µs per inference |", "| --- | ---: |"]
    lines += [f"| {k} | {v:,.1f} |" for k, v in report["us_per_inference"].items()]
    lines += ["", *(f"- {k}: **{v}x**" for k, v in report["ratios"].items()),
              f"- moving tensor bytes (HTTP body → guest → wasi-nn → back), beyond onnxruntime's own extra work: "
              f"**{report['tensor_bytes_us_per_kib']} µs per KiB**",
              f"- every path gave the same label for all {report['images']} images: {report['labels_agree']}"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="few iterations, for CI")
    ap.add_argument("--json", type=Path, help="also write the report as JSON")
    args = ap.parse_args(argv)
    report = run(args.quick)
    print(table(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    return 0 if report["labels_agree"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
