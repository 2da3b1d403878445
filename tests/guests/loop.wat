;; Spins forever: only a deadline (epoch interruption) or fuel stops it.
(module
  (func (export "_start")
    (loop $forever (br $forever))))
