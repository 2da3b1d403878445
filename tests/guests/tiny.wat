;; The smallest useful command: no imports, returns at once (the startup benchmark's core guest).
(module
  (memory (export "memory") 1)
  (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
  (func (export "_start")))
