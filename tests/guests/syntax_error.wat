;; Not valid WebAssembly text: an unknown instruction.
(module
  (func (export "_start")
    (i32.frobnicate (i32.const 1))))
