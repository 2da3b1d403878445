;; The tiny wasi:http guest of the HTTP benchmark, as a core module: `wasm-tools component embed` (world
;; `wasi:http/proxy@0.2.0`, full standard types, so `wasmtime serve` accepts it too) then `component new`
;; (see `benchmarks/http.py`). The same handler as the canon prototype's `tests/canon/tiny.wat`: every
;; request gets 200, `content-type: text/plain` and a 16-byte body, except POST, which streams the request
;; body back (64 KiB `blocking-read`s, written back in 4 KiB `blocking-write-and-flush`es: the WIT's limit,
;; which wasmtime enforces).
(module
  (import "cm32p2|wasi:http/types@0.2" "[static]fields.from-list" (func $from_list (param i32 i32 i32)))
  (import "cm32p2|wasi:http/types@0.2" "[method]incoming-request.method" (func $method (param i32 i32)))
  (import "cm32p2|wasi:http/types@0.2" "[method]incoming-request.consume" (func $consume (param i32 i32)))
  (import "cm32p2|wasi:http/types@0.2" "[method]incoming-body.stream" (func $stream (param i32 i32)))
  (import "cm32p2|wasi:http/types@0.2" "[constructor]outgoing-response" (func $resp (param i32) (result i32)))
  (import "cm32p2|wasi:http/types@0.2" "[method]outgoing-response.body" (func $body (param i32 i32)))
  (import "cm32p2|wasi:http/types@0.2" "[method]outgoing-body.write" (func $write (param i32 i32)))
  (import "cm32p2|wasi:http/types@0.2" "[static]outgoing-body.finish" (func $finish (param i32 i32 i32 i32)))
  (import "cm32p2|wasi:http/types@0.2" "[static]response-outparam.set"
    (func $set (param i32 i32 i32 i32 i64 i32 i32 i32 i32)))
  (import "cm32p2|wasi:http/types@0.2" "incoming-body_drop" (func $drop_ib (param i32)))
  (import "cm32p2|wasi:io/streams@0.2" "[method]input-stream.blocking-read" (func $read (param i32 i64 i32)))
  (import "cm32p2|wasi:io/streams@0.2" "[method]output-stream.blocking-write-and-flush"
    (func $bwf (param i32 i32 i32 i32)))
  (import "cm32p2|wasi:io/streams@0.2" "input-stream_drop" (func $drop_is (param i32)))
  (import "cm32p2|wasi:io/streams@0.2" "output-stream_drop" (func $drop_os (param i32)))
  (memory (export "cm32p2_memory") 20)
  ;; Every list the host hands over (one at a time) lands at 64 KiB: the guest uses it before the next.
  (func (export "cm32p2_realloc") (param i32 i32 i32 i32) (result i32)
    (if (i32.gt_u (local.get 3) (i32.const 1048576)) (then unreachable))
    (i32.const 65536))
  (data (i32.const 600) "content-type")
  (data (i32.const 620) "text/plain")
  (data (i32.const 640) "Hello from WAT!\n")
  (func (export "cm32p2|wasi:http/incoming-handler@0.2|handle") (param $req i32) (param $out i32)
    (local $r i32) (local $b i32) (local $os i32) (local $ib i32) (local $is i32)
    (local $p i32) (local $left i32) (local $n i32)
    ;; headers: [("content-type", b"text/plain")] as one (string, list<u8>) tuple at 512
    (i32.store (i32.const 512) (i32.const 600)) (i32.store (i32.const 516) (i32.const 12))
    (i32.store (i32.const 520) (i32.const 620)) (i32.store (i32.const 524) (i32.const 10))
    (call $from_list (i32.const 512) (i32.const 1) (i32.const 264))
    (if (i32.load8_u (i32.const 264)) (then unreachable))
    (local.set $r (call $resp (i32.load (i32.const 268))))
    (call $body (local.get $r) (i32.const 272))
    (local.set $b (i32.load (i32.const 276)))
    (call $set (local.get $out) (i32.const 0) (local.get $r) (i32.const 0) (i64.const 0) (i32.const 0)
      (i32.const 0) (i32.const 0) (i32.const 0))
    (call $write (local.get $b) (i32.const 280))
    (local.set $os (i32.load (i32.const 284)))
    (call $method (local.get $req) (i32.const 256))
    (if (i32.eq (i32.load8_u (i32.const 256)) (i32.const 2))
      (then
        (call $consume (local.get $req) (i32.const 288))
        (local.set $ib (i32.load (i32.const 292)))
        (call $stream (local.get $ib) (i32.const 296))
        (local.set $is (i32.load (i32.const 300)))
        (block $done (loop $next
          (call $read (local.get $is) (i64.const 65536) (i32.const 304))
          (br_if $done (i32.load8_u (i32.const 304)))
          ;; `blocking-write-and-flush` takes at most 4096 bytes (wasmtime enforces the WIT's limit)
          (local.set $p (i32.load (i32.const 308)))
          (local.set $left (i32.load (i32.const 312)))
          (block $written (loop $piece
            (br_if $written (i32.eqz (local.get $left)))
            (local.set $n (select (i32.const 4096) (local.get $left) (i32.gt_u (local.get $left) (i32.const 4096))))
            (call $bwf (local.get $os) (local.get $p) (local.get $n) (i32.const 320))
            (if (i32.load8_u (i32.const 320)) (then unreachable))
            (local.set $p (i32.add (local.get $p) (local.get $n)))
            (local.set $left (i32.sub (local.get $left) (local.get $n)))
            (br $piece)))
          (br $next)))
        (call $drop_is (local.get $is))
        (call $drop_ib (local.get $ib)))
      (else
        (call $bwf (local.get $os) (i32.const 640) (i32.const 16) (i32.const 320))))
    (call $drop_os (local.get $os))
    (call $finish (local.get $b) (i32.const 0) (i32.const 0) (i32.const 336)))
)
