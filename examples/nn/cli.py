"""The digit classifier as a component function (`wasmhive call cli.wasm classify '[0, 0, 5, ...]'`)."""

from componentize_py_types import Err
from digits import classify_nn, classify_pure, error_json
from wit_world import exports


def check(pixels: bytes) -> None:
    if len(pixels) != 64 or max(pixels, default=0) > 16:
        raise Err("pixels must be 64 values 0..16")


class Classifier(exports.Classifier):
    def classify_pure(self, pixels: bytes) -> int:
        check(pixels)
        return classify_pure(bytes(pixels))[0]

    def classify(self, pixels: bytes) -> int:
        check(pixels)
        try:
            return classify_nn(bytes(pixels))[0]
        except Err as e:
            doc = error_json(e)
            raise Err(f"{doc['error']}: {doc['data']}") from None
