;; list<u8> echo with the canonical ABI written by hand: the argument arrives through cabi_realloc,
;; the result is a (ptr, len) pair in memory, post-return resets the bump allocator.
(component
  (core module $m
    (memory (export "memory") 1)
    (global $heap (mut i32) (i32.const 1024))
    (func (export "cabi_realloc") (param $old i32) (param $old_size i32) (param $align i32) (param $new_size i32) (result i32)
      (local $p i32)
      global.get $heap local.get $align i32.add i32.const 1 i32.sub
      i32.const 0 local.get $align i32.sub i32.and local.set $p
      local.get $p local.get $new_size i32.add global.set $heap
      (block $ok
        global.get $heap memory.size i32.const 16 i32.shl i32.le_u br_if $ok
        global.get $heap memory.size i32.const 16 i32.shl i32.sub i32.const 65535 i32.add i32.const 16 i32.shr_u
        memory.grow i32.const -1 i32.ne br_if $ok
        unreachable)
      local.get $p)
    (func (export "echo") (param $ptr i32) (param $len i32) (result i32)
      i32.const 8 local.get $ptr i32.store
      i32.const 12 local.get $len i32.store
      i32.const 8)
    (func (export "cabi_post_echo") (param i32) i32.const 1024 global.set $heap)
    (func (export "heap") (result i32) global.get $heap))
  (core instance $i (instantiate $m))
  (func (export "echo") (param "data" (list u8)) (result (list u8))
    (canon lift (core func $i "echo") (memory (core memory $i "memory")) (realloc (core func $i "cabi_realloc"))
      (post-return (core func $i "cabi_post_echo"))))
  (func (export "heap") (result u32) (canon lift (core func $i "heap"))))
