;; A library module for the README's Python API example: the host writes bytes into `memory`,
;; `sum(ptr, len)` adds them up.
(module
  (memory (export "memory") 1)
  (func (export "sum") (param $p i32) (param $n i32) (result i32) (local $s i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $s (i32.add (local.get $s) (i32.load8_u (local.get $p))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $next)))
    (local.get $s)))
