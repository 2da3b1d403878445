;; Traps three calls deep, so the backtrace names $inner, $middle and $outer.
(module $trapper
  (func $inner (unreachable))
  (func $middle (call $inner))
  (func $outer (call $middle))
  (func (export "_start") (call $outer)))
