"""The security suite: one test per attack that once worked, plus fuzzers over every parser of untrusted input.

Fuzzers use hypothesis with a fixed, derandomized budget in CI (`WASMHIVE_FUZZ` unset: same inputs every
run, so a red CI is reproducible) and a long random budget by hand (`WASMHIVE_FUZZ=long`, what
`benchmarks/fuzz.py` sets). A fuzz test asserts only that the parser returns or raises a wasmhive error:
never another exception, never a hang.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=int(os.environ.get("WASMHIVE_FUZZ_EXAMPLES", "200")),
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "long",
    max_examples=int(os.environ.get("WASMHIVE_FUZZ_EXAMPLES", "20000")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile("long" if os.environ.get("WASMHIVE_FUZZ") == "long" else "ci")
