;; The startup benchmark's core guest: a WASI command that imports nothing and returns at once,
;; plus an `add` export for the call-an-export measurement.
(module
  (memory (export "memory") 1)
  (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
  (func (export "_start")))
