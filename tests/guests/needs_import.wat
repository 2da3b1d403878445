;; Imports a function no host provides.
(module
  (import "wasmhive:nowhere/api" "missing" (func $missing (param i32)))
  (func (export "_start") (call $missing (i32.const 1))))
