"""The digit classifier as a component function (`wasmhive call cli.wasm classify '[0, 0, 5, ...]'`)."""

from componentize_py_types import Err
from digits import classify_nn, error_json
from wit_world import exports


class Classifier(exports.Classifier):
    def classify(self, pixels: bytes) -> int:
        if len(pixels) != 64 or max(pixels, default=0) > 16:
            raise Err("pixels must be 64 values 0..16")
        try:
            return classify_nn(bytes(pixels))[0]
        except Err as e:
            doc = error_json(e)
            raise Err(f"{doc['error']}: {doc['data']}") from None
