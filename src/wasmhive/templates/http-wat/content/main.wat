;; {{project-name}}: a WAGI handler in WebAssembly text. It writes a CGI response (headers, a blank
;; line, the body) to stdout with WASI's fd_write.
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "Content-Type: text/plain\n\nHello from {{project-name}} (WAT)!\n")
  (func (export "_start")
    ;; one iovec at 0: { ptr = 64, len = the data's length }
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.const {{wat-len}}))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
