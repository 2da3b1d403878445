;; A cron component (world `fermyon:spin-cron/spin-cron`, which the test writes) as a core module for
;; `wasm-tools component embed` + `new`. Each tick with an even timestamp sets key `tick-<timestamp>` = "ok"
;; in the `default` key-value store (fermyon:spin/key-value@2.0.0); timestamp % 4 == 1 traps, % 4 == 3 loops
;; until its deadline.
(module
  (import "fermyon:spin/key-value@2.0.0" "[static]store.open" (func $open (param i32 i32 i32)))
  (import "fermyon:spin/key-value@2.0.0" "[method]store.set" (func $set (param i32 i32 i32 i32 i32 i32)))
  (import "fermyon:spin/key-value@2.0.0" "[resource-drop]store" (func $drop (param i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (data (i32.const 16) "default")
  (data (i32.const 32) "ok")
  (data (i32.const 48) "key-value failed")

  ;; bump allocator: the host writes error strings here
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
    (local $p i32)
    (local.set $p (i32.and (i32.add (global.get $heap) (i32.sub (local.get 2) (i32.const 1)))
                           (i32.sub (i32.const 0) (local.get 2))))
    (global.set $heap (i32.add (local.get $p) (local.get 3)))
    (local.get $p))

  ;; handle-cron-event(metadata { timestamp: u64 }) -> result<_, error>, returned through memory at 96
  (func (export "handle-cron-event") (param $ts i64) (result i32)
    (local $pos i32) (local $n i64) (local $store i32)
    ;; timestamp % 4 == 3: spin until the deadline ends the instance
    (if (i64.eq (i64.rem_u (local.get $ts) (i64.const 4)) (i64.const 3)) (then (loop $spin (br $spin))))
    (if (i32.wrap_i64 (i64.rem_u (local.get $ts) (i64.const 2))) (then unreachable))
    ;; key = "tick-" + decimal timestamp, written backwards to end at 320
    (local.set $pos (i32.const 320))
    (local.set $n (local.get $ts))
    (loop $digits
      (local.set $pos (i32.sub (local.get $pos) (i32.const 1)))
      (i32.store8 (local.get $pos) (i32.add (i32.const 48) (i32.wrap_i64 (i64.rem_u (local.get $n) (i64.const 10)))))
      (local.set $n (i64.div_u (local.get $n) (i64.const 10)))
      (br_if $digits (i64.ne (local.get $n) (i64.const 0))))
    (local.set $pos (i32.sub (local.get $pos) (i32.const 5)))
    (i32.store (local.get $pos) (i32.const 0x6b636974))  ;; "tick"
    (i32.store8 offset=4 (local.get $pos) (i32.const 45))  ;; "-"
    (call $open (i32.const 16) (i32.const 7) (i32.const 64))
    (if (i32.load8_u (i32.const 64)) (then (return (call $fail))))
    (local.set $store (i32.load (i32.const 68)))
    (call $set (local.get $store) (local.get $pos) (i32.sub (i32.const 320) (local.get $pos))
               (i32.const 32) (i32.const 2) (i32.const 80))
    (call $drop (local.get $store))
    (if (i32.load8_u (i32.const 80)) (then (return (call $fail))))
    (i32.store8 (i32.const 96) (i32.const 0))
    (i32.const 96))

  ;; err(other("key-value failed"))
  (func $fail (result i32)
    (i32.store8 (i32.const 96) (i32.const 1))
    (i32.store8 (i32.const 100) (i32.const 0))
    (i32.store (i32.const 104) (i32.const 48))
    (i32.store (i32.const 108) (i32.const 16))
    (i32.const 96))
)
