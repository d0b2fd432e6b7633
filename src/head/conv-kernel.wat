;; The squeezenet-conv head's training loops over the kept nonzero values of one sample (see
;; conv-kernel.ts, which owns the memory layout). Compiled by scripts/build-head-wasm.mjs into
;; conv-kernel-wasm.ts; edit this file, then run that script (a test checks the two agree).
;; IEEE f64 arithmetic (the f64x2 lanes hold the two classes), so results do not depend on the machine.
(module
  (memory (export "memory") 1)

  ;; z[q] += scale * (w0[c] v, w1[c] v) for every value v (channel c, position q) whose dropout bit
  ;; is set, walking each row's mask words lowest bit first; records the kept values and positions
  ;; (kq, kv) and, per channel, the end of its run in the record (ends). Returns the number kept.
  ;; rs: the sample's row starts (C + 1 indices into vals/pos); z: interleaved (z0[q], z1[q]) f64.
  (func (export "forward")
    (param $rs i32) (param $vals i32) (param $pos i32) (param $bits i32) (param $w i32) (param $z i32)
    (param $kq i32) (param $kv i32) (param $ends i32) (param $C i32) (param $scale f64) (result i32)
    (local $ch i32) (local $a0 f64) (local $a1 f64) (local $k0 i32) (local $end i32) (local $b i32)
    (local $k i32) (local $q i32) (local $x f32) (local $zq i32) (local $n i32) (local $a v128)
    (block $chdone
      (br_if $chdone (i32.eqz (local.get $C)))
      (loop $chl
        (local.set $a0 (f64.mul (f64.load (i32.add (local.get $w) (i32.shl (local.get $ch) (i32.const 3)))) (local.get $scale)))
        (local.set $a1 (f64.mul (f64.load (i32.add (local.get $w) (i32.shl (i32.add (local.get $C) (local.get $ch)) (i32.const 3)))) (local.get $scale)))
        (local.set $a (f64x2.replace_lane 1 (f64x2.splat (local.get $a0)) (local.get $a1)))
        (local.set $k0 (i32.load (i32.add (local.get $rs) (i32.shl (local.get $ch) (i32.const 2)))))
        (local.set $end (i32.load offset=4 (i32.add (local.get $rs) (i32.shl (local.get $ch) (i32.const 2)))))
        (block $wdone
          (loop $wl
            (br_if $wdone (i32.ge_s (local.get $k0) (local.get $end)))
            (local.set $b (i32.load (local.get $bits)))
            (local.set $bits (i32.add (local.get $bits) (i32.const 4)))
            (block $bdone
              (loop $bl
                (br_if $bdone (i32.eqz (local.get $b)))
                (local.set $k (i32.add (local.get $k0) (i32.ctz (local.get $b))))
                (local.set $b (i32.and (local.get $b) (i32.sub (local.get $b) (i32.const 1))))
                (local.set $q (i32.load16_u (i32.add (local.get $pos) (i32.shl (local.get $k) (i32.const 1)))))
                (local.set $x (f32.load (i32.add (local.get $vals) (i32.shl (local.get $k) (i32.const 2)))))
                (local.set $zq (i32.add (local.get $z) (i32.shl (local.get $q) (i32.const 4))))
                (v128.store (local.get $zq)
                  (f64x2.add (v128.load (local.get $zq)) (f64x2.mul (local.get $a) (f64x2.splat (f64.promote_f32 (local.get $x))))))
                (i32.store16 (i32.add (local.get $kq) (i32.shl (local.get $n) (i32.const 1))) (local.get $q))
                (f32.store (i32.add (local.get $kv) (i32.shl (local.get $n) (i32.const 2))) (local.get $x))
                (local.set $n (i32.add (local.get $n) (i32.const 1)))
                (br $bl)))
            (local.set $k0 (i32.add (local.get $k0) (i32.const 32)))
            (br $wl)))
        (i32.store (i32.add (local.get $ends) (i32.shl (local.get $ch) (i32.const 2))) (local.get $n))
        (local.set $ch (i32.add (local.get $ch) (i32.const 1)))
        (br_if $chl (i32.lt_u (local.get $ch) (local.get $C)))))
    (local.get $n))

  ;; The eval pass: z[q] += scale * (w0[c] v, w1[c] v) for every value of the sample, in the order
  ;; forward visits them when every bit is set.
  (func (export "forwardAll")
    (param $rs i32) (param $vals i32) (param $pos i32) (param $w i32) (param $z i32) (param $C i32) (param $scale f64)
    (local $ch i32) (local $a v128) (local $k i32) (local $end i32) (local $zq i32)
    (block $chdone
      (br_if $chdone (i32.eqz (local.get $C)))
      (loop $chl
        (local.set $a (f64x2.replace_lane 1
          (f64x2.splat (f64.mul (f64.load (i32.add (local.get $w) (i32.shl (local.get $ch) (i32.const 3)))) (local.get $scale)))
          (f64.mul (f64.load (i32.add (local.get $w) (i32.shl (i32.add (local.get $C) (local.get $ch)) (i32.const 3)))) (local.get $scale))))
        (local.set $k (i32.load (i32.add (local.get $rs) (i32.shl (local.get $ch) (i32.const 2)))))
        (local.set $end (i32.load offset=4 (i32.add (local.get $rs) (i32.shl (local.get $ch) (i32.const 2)))))
        (block $kdone
          (loop $kl
            (br_if $kdone (i32.ge_s (local.get $k) (local.get $end)))
            (local.set $zq (i32.add (local.get $z) (i32.shl (i32.load16_u (i32.add (local.get $pos) (i32.shl (local.get $k) (i32.const 1)))) (i32.const 4))))
            (v128.store (local.get $zq)
              (f64x2.add (v128.load (local.get $zq))
                (f64x2.mul (local.get $a) (f64x2.splat (f64.promote_f32 (f32.load (i32.add (local.get $vals) (i32.shl (local.get $k) (i32.const 2)))))))))
            (local.set $k (i32.add (local.get $k) (i32.const 1)))
            (br $kl)))
        (local.set $ch (i32.add (local.get $ch) (i32.const 1)))
        (br_if $chl (i32.lt_u (local.get $ch) (local.get $C))))))

  ;; gw[c] += scale * sum d0[q] v and gw[C + c] += scale * sum d1[q] v over channel c's recorded
  ;; values (even and odd ones summed apart, then added); d: interleaved (d0[q], d1[q]) f64, 0 where
  ;; the ReLU is off.
  (func (export "backward")
    (param $kq i32) (param $kv i32) (param $ends i32) (param $d i32) (param $gw i32) (param $C i32) (param $scale f64)
    (local $ch i32) (local $k i32) (local $end i32) (local $sa v128) (local $sb v128) (local $g i32)
    (block $chdone
      (br_if $chdone (i32.eqz (local.get $C)))
      (loop $chl
        (local.set $end (i32.load (i32.add (local.get $ends) (i32.shl (local.get $ch) (i32.const 2)))))
        (local.set $sa (v128.const i64x2 0 0))
        (local.set $sb (v128.const i64x2 0 0))
        ;; two values per step into two accumulators (the adds of one do not wait on the other's)
        (block $kdone
          (loop $kl
            (br_if $kdone (i32.ge_s (i32.add (local.get $k) (i32.const 1)) (local.get $end)))
            (local.set $sa (f64x2.add (local.get $sa)
              (f64x2.mul
                (v128.load (i32.add (local.get $d) (i32.shl (i32.load16_u (i32.add (local.get $kq) (i32.shl (local.get $k) (i32.const 1)))) (i32.const 4))))
                (f64x2.splat (f64.promote_f32 (f32.load (i32.add (local.get $kv) (i32.shl (local.get $k) (i32.const 2)))))))))
            (local.set $sb (f64x2.add (local.get $sb)
              (f64x2.mul
                (v128.load (i32.add (local.get $d) (i32.shl (i32.load16_u offset=2 (i32.add (local.get $kq) (i32.shl (local.get $k) (i32.const 1)))) (i32.const 4))))
                (f64x2.splat (f64.promote_f32 (f32.load offset=4 (i32.add (local.get $kv) (i32.shl (local.get $k) (i32.const 2)))))))))
            (local.set $k (i32.add (local.get $k) (i32.const 2)))
            (br $kl)))
        (if (i32.lt_s (local.get $k) (local.get $end))
          (then
            (local.set $sa (f64x2.add (local.get $sa)
              (f64x2.mul
                (v128.load (i32.add (local.get $d) (i32.shl (i32.load16_u (i32.add (local.get $kq) (i32.shl (local.get $k) (i32.const 1)))) (i32.const 4))))
                (f64x2.splat (f64.promote_f32 (f32.load (i32.add (local.get $kv) (i32.shl (local.get $k) (i32.const 2)))))))))
            (local.set $k (i32.add (local.get $k) (i32.const 1)))))
        (local.set $sa (f64x2.mul (f64x2.add (local.get $sa) (local.get $sb)) (f64x2.splat (local.get $scale))))
        (local.set $g (i32.add (local.get $gw) (i32.shl (local.get $ch) (i32.const 3))))
        (f64.store (local.get $g) (f64.add (f64.load (local.get $g)) (f64x2.extract_lane 0 (local.get $sa))))
        (local.set $g (i32.add (local.get $gw) (i32.shl (i32.add (local.get $C) (local.get $ch)) (i32.const 3))))
        (f64.store (local.get $g) (f64.add (f64.load (local.get $g)) (f64x2.extract_lane 1 (local.get $sa))))
        (local.set $ch (i32.add (local.get $ch) (i32.const 1)))
        (br_if $chl (i32.lt_u (local.get $ch) (local.get $C))))))
)
