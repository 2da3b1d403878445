;; A 32-bit canister written by hand against the IC System API (ic0): a counter whose value lives in
;; linear memory and moves to stable memory across upgrades. Replies are Candid: DIDL, no type table,
;; one argument of type nat64 (0x78), then the value in little-endian.
(module
  (import "ic0" "msg_reply_data_append" (func $reply_append (param i32 i32)))
  (import "ic0" "msg_reply" (func $reply))
  (import "ic0" "msg_arg_data_size" (func $arg_size (result i32)))
  (import "ic0" "msg_arg_data_copy" (func $arg_copy (param i32 i32 i32)))
  (import "ic0" "stable_size" (func $stable_size (result i32)))
  (import "ic0" "stable_grow" (func $stable_grow (param i32) (result i32)))
  (import "ic0" "stable_read" (func $stable_read (param i32 i32 i32)))
  (import "ic0" "stable_write" (func $stable_write (param i32 i32 i32)))
  (import "ic0" "trap" (func $trap (param i32 i32)))
  (memory 1)
  ;; 0..7: the reply header "DIDL" 0x00 0x01 0x78; 8..15: the reply value; 64..71: the counter.
  (data (i32.const 0) "DIDL\00\01\78")
  (data (i32.const 32) "counter overflow")

  (func $reply_count
    (i64.store (i32.const 7) (i64.load (i32.const 64)))
    (call $reply_append (i32.const 0) (i32.const 15))
    (call $reply))

  (func (export "canister_update inc")
    (if (i64.eq (i64.load (i32.const 64)) (i64.const -1))
      (then (call $trap (i32.const 32) (i32.const 16))))
    (i64.store (i32.const 64) (i64.add (i64.load (i32.const 64)) (i64.const 1)))
    (call $reply_count))

  (func (export "canister_query get")
    (call $reply_count))

  (func (export "canister_pre_upgrade")
    (if (i32.eqz (call $stable_size))
      (then (drop (call $stable_grow (i32.const 1)))))
    (call $stable_write (i32.const 0) (i32.const 64) (i32.const 8)))

  (func (export "canister_post_upgrade")
    (if (i32.gt_u (call $stable_size) (i32.const 0))
      (then (call $stable_read (i32.const 64) (i32.const 0) (i32.const 8)))))
)
