"""A wasi:cli command written in Python, built with componentize-py.

Arguments: `hello` prints a greeting and the GREETING variable, `read:PATH` prints a file,
`exit:N` exits with status N (the 0.2 `wasi:cli/exit` carries only ok/err, so any N > 0 is 1).
"""

import os
import sys

from wit_world import exports


class Run(exports.Run):
    def run(self) -> None:
        for arg in sys.argv[1:]:
            if arg == "hello":
                print("hello from componentize-py")
                print("GREETING =", os.environ.get("GREETING"))
            elif arg.startswith("read:"):
                with open(arg[5:]) as f:
                    print(f.read(), end="")
            elif arg.startswith("exit:"):
                sys.stdout.flush()
                sys.exit(int(arg[5:]))
