"""A probe guest for the key-value and variables host functions: runs a list of commands, returns results."""

from componentize_py_types import Err
from wit_world import WitWorld as _World
from wit_world.imports import atomics, batch, key_value, variables, wasi_config_store, wasi_keyvalue_store


def _err(e: Err) -> str:
    v = e.value
    payload = getattr(v, "value", None)
    name = type(v).__name__.split("_", 1)[-1]
    return f"err:{name}" + (f"({payload})" if isinstance(payload, str) else "")


class WitWorld(_World):
    def run(self, args: list[str]) -> str:
        spin: dict[str, key_value.Store] = {}
        wasi: dict[str, wasi_keyvalue_store.Bucket] = {}
        out = []
        for line in args:
            op, *a = line.split(" ")
            try:
                out.append(self.step(op, a, spin, wasi))
            except Err as e:
                out.append(_err(e))
        return "\n".join(out)

    def step(self, op, a, spin, wasi) -> str:
        if op == "spin-open":
            spin[a[0]] = key_value.Store.open(a[0])
            return "ok"
        if op == "spin-set":
            spin[a[0]].set(a[1], a[2].encode())
            return "ok"
        if op == "spin-get":
            v = spin[a[0]].get(a[1])
            return "none" if v is None else v.decode()
        if op == "spin-del":
            spin[a[0]].delete(a[1])
            return "ok"
        if op == "spin-exists":
            return str(spin[a[0]].exists(a[1]))
        if op == "spin-keys":
            return ",".join(spin[a[0]].get_keys())
        if op == "var":
            return variables.get(a[0])
        if op == "cfg":
            return str(wasi_config_store.get(a[0]))
        if op == "cfg-all":
            return repr(wasi_config_store.get_all())
        if op == "wasi-open":
            wasi[a[0]] = wasi_keyvalue_store.open(a[0])
            return "ok"
        if op == "wasi-set":
            wasi[a[0]].set(a[1], a[2].encode())
            return "ok"
        if op == "wasi-get":
            v = wasi[a[0]].get(a[1])
            return "none" if v is None else v.decode()
        if op == "wasi-keys":
            return ",".join(wasi[a[0]].list_keys(None).keys)
        if op == "inc":
            return str(atomics.increment(wasi[a[0]], a[1], int(a[2])))
        if op == "cas":
            cas = atomics.Cas.new(wasi[a[0]], a[1])
            current = cas.current()
            if a[2] == "race":  # someone else writes between new() and swap()
                wasi[a[0]].set(a[1], b"other")
            try:
                atomics.swap(cas, a[3].encode())
            except Err as e:
                v = e.value
                if isinstance(v, atomics.CasError_CasFailed):  # a fresh cas, holding the value now current
                    return f"{current!r}->{type(v).__name__}({v.value.current()!r})"
                return f"{current!r}->{type(v).__name__}({_err(Err(v.value))})"  # store-error(error)
            return f"{current!r}->swapped"
        if op == "many":
            return repr(batch.get_many(wasi[a[0]], a[1].split(",")))
        if op == "setmany":
            batch.set_many(wasi[a[0]], [(kv.split("=")[0], kv.split("=")[1].encode()) for kv in a[1].split(",")])
            return "ok"
        if op == "delmany":
            batch.delete_many(wasi[a[0]], a[1].split(","))
            return "ok"
        return f"unknown op {op}"
