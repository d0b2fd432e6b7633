;; The squeezenet-conv head's loops over the nonzero values of one sample, position by position (see
;; conv-kernel.ts, which owns the memory layout, and mapsByPosition). Compiled by
;; scripts/build-head-wasm.mjs into conv-kernel-wasm.ts; edit this file, then run that script (a test
;; checks the two agree). IEEE f64 arithmetic, the two f64x2 lanes holding the two classes, so
;; results do not depend on the machine.
;;
;; Layout: rs = the sample's row starts (P + 1 indices into vals/cols), one row per position; vals =
;; f32 values, cols = u16 channel of each value; w = interleaved (w0[c], w1[c]) f64, already scaled
;; by 1/(1-p); z, d = interleaved (class 0, class 1) f64 per position; gw = interleaved gradient per
;; channel; kc, kv = record of the kept channels and values; ends = end of each position's record.
(module
  (memory (export "memory") 1)

  ;; z[q] += sum of w[c] v over the values of position q whose dropout bit is set, walking each
  ;; row's mask words lowest bit first, and records them (kc, kv, ends). Returns the number kept.
  (func (export "forward")
    (param $rs i32) (param $vals i32) (param $cols i32) (param $bits i32) (param $w i32) (param $z i32)
    (param $kc i32) (param $kv i32) (param $ends i32) (param $P i32) (result i32)
    (local $q i32) (local $acc v128) (local $k0 i32) (local $end i32) (local $b i32)
    (local $k i32) (local $c i32) (local $x f32) (local $n i32) (local $zq i32)
    (block $qdone
      (br_if $qdone (i32.eqz (local.get $P)))
      (loop $ql
        (local.set $zq (i32.add (local.get $z) (i32.shl (local.get $q) (i32.const 4))))
        (local.set $acc (v128.load (local.get $zq)))
        (local.set $k0 (i32.load (i32.add (local.get $rs) (i32.shl (local.get $q) (i32.const 2)))))
        (local.set $end (i32.load offset=4 (i32.add (local.get $rs) (i32.shl (local.get $q) (i32.const 2)))))
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
                (local.set $c (i32.load16_u (i32.add (local.get $cols) (i32.shl (local.get $k) (i32.const 1)))))
                (local.set $x (f32.load (i32.add (local.get $vals) (i32.shl (local.get $k) (i32.const 2)))))
                (local.set $acc (f64x2.add (local.get $acc)
                  (f64x2.mul (v128.load (i32.add (local.get $w) (i32.shl (local.get $c) (i32.const 4))))
                    (f64x2.splat (f64.promote_f32 (local.get $x))))))
                (i32.store16 (i32.add (local.get $kc) (i32.shl (local.get $n) (i32.const 1))) (local.get $c))
                (f32.store (i32.add (local.get $kv) (i32.shl (local.get $n) (i32.const 2))) (local.get $x))
                (local.set $n (i32.add (local.get $n) (i32.const 1)))
                (br $bl)))
            (local.set $k0 (i32.add (local.get $k0) (i32.const 32)))
            (br $wl)))
        (v128.store (local.get $zq) (local.get $acc))
        (i32.store (i32.add (local.get $ends) (i32.shl (local.get $q) (i32.const 2))) (local.get $n))
        (local.set $q (i32.add (local.get $q) (i32.const 1)))
        (br_if $ql (i32.lt_u (local.get $q) (local.get $P)))))
    (local.get $n))

  ;; The eval pass: z[q] += sum of w[c] v over every value of position q, in the order forward
  ;; visits them when every bit is set.
  (func (export "forwardAll")
    (param $rs i32) (param $vals i32) (param $cols i32) (param $w i32) (param $z i32) (param $P i32)
    (local $q i32) (local $acc v128) (local $k i32) (local $end i32) (local $zq i32)
    (block $qdone
      (br_if $qdone (i32.eqz (local.get $P)))
      (loop $ql
        (local.set $zq (i32.add (local.get $z) (i32.shl (local.get $q) (i32.const 4))))
        (local.set $acc (v128.load (local.get $zq)))
        (local.set $k (i32.load (i32.add (local.get $rs) (i32.shl (local.get $q) (i32.const 2)))))
        (local.set $end (i32.load offset=4 (i32.add (local.get $rs) (i32.shl (local.get $q) (i32.const 2)))))
        (block $kdone
          (loop $kl
            (br_if $kdone (i32.ge_s (local.get $k) (local.get $end)))
            (local.set $acc (f64x2.add (local.get $acc)
              (f64x2.mul
                (v128.load (i32.add (local.get $w) (i32.shl (i32.load16_u (i32.add (local.get $cols) (i32.shl (local.get $k) (i32.const 1)))) (i32.const 4))))
                (f64x2.splat (f64.promote_f32 (f32.load (i32.add (local.get $vals) (i32.shl (local.get $k) (i32.const 2)))))))))
            (local.set $k (i32.add (local.get $k) (i32.const 1)))
            (br $kl)))
        (v128.store (local.get $zq) (local.get $acc))
        (local.set $q (i32.add (local.get $q) (i32.const 1)))
        (br_if $ql (i32.lt_u (local.get $q) (local.get $P))))))

  ;; ReLU then the sum over positions: out = sum over q of max(z[q], 0) per lane, added in position
  ;; order (a branch-free select: the ReLU states are random from sample to sample).
  (func (export "pool") (param $z i32) (param $P i32) (param $out i32)
    (local $q i32) (local $zq v128) (local $sum v128)
    (block $qdone
      (br_if $qdone (i32.eqz (local.get $P)))
      (loop $ql
        (local.set $zq (v128.load (i32.add (local.get $z) (i32.shl (local.get $q) (i32.const 4)))))
        (local.set $sum (f64x2.add (local.get $sum)
          (v128.and (local.get $zq) (f64x2.gt (local.get $zq) (v128.const f64x2 0 0)))))
        (local.set $q (i32.add (local.get $q) (i32.const 1)))
        (br_if $ql (i32.lt_u (local.get $q) (local.get $P)))))
    (v128.store (local.get $out) (local.get $sum)))

  ;; The gradient at each position: d[q] = ds where z[q] > 0, else 0 (per lane), and out = the sum
  ;; over q of g where z[q] > 0 (the bias gradient), with ds and g read from out (ds at out + 16).
  (func (export "relugrad") (param $z i32) (param $d i32) (param $P i32) (param $out i32)
    (local $q i32) (local $on v128) (local $g v128) (local $ds v128) (local $sum v128)
    (local.set $g (v128.load (local.get $out)))
    (local.set $ds (v128.load offset=16 (local.get $out)))
    (block $qdone
      (br_if $qdone (i32.eqz (local.get $P)))
      (loop $ql
        (local.set $on (f64x2.gt (v128.load (i32.add (local.get $z) (i32.shl (local.get $q) (i32.const 4)))) (v128.const f64x2 0 0)))
        (v128.store (i32.add (local.get $d) (i32.shl (local.get $q) (i32.const 4))) (v128.and (local.get $ds) (local.get $on)))
        (local.set $sum (f64x2.add (local.get $sum) (v128.and (local.get $g) (local.get $on))))
        (local.set $q (i32.add (local.get $q) (i32.const 1)))
        (br_if $ql (i32.lt_u (local.get $q) (local.get $P)))))
    (v128.store (local.get $out) (local.get $sum)))

  ;; gw[c] += d[q] v over the recorded values of every position whose d is not zero in both lanes
  ;; (a position where both ReLUs are off passes no gradient and is skipped).
  (func (export "backward")
    (param $kc i32) (param $kv i32) (param $ends i32) (param $d i32) (param $gw i32) (param $P i32)
    (local $q i32) (local $k i32) (local $end i32) (local $dq v128) (local $g i32)
    (block $qdone
      (br_if $qdone (i32.eqz (local.get $P)))
      (loop $ql
        (local.set $end (i32.load (i32.add (local.get $ends) (i32.shl (local.get $q) (i32.const 2)))))
        (local.set $dq (v128.load (i32.add (local.get $d) (i32.shl (local.get $q) (i32.const 4)))))
        (if (i32.eqz (v128.any_true (local.get $dq))) (then (local.set $k (local.get $end))))
        (block $kdone
          (loop $kl
            (br_if $kdone (i32.ge_s (local.get $k) (local.get $end)))
            (local.set $g (i32.add (local.get $gw) (i32.shl (i32.load16_u (i32.add (local.get $kc) (i32.shl (local.get $k) (i32.const 1)))) (i32.const 4))))
            (v128.store (local.get $g) (f64x2.add (v128.load (local.get $g))
              (f64x2.mul (local.get $dq) (f64x2.splat (f64.promote_f32 (f32.load (i32.add (local.get $kv) (i32.shl (local.get $k) (i32.const 2)))))))))
            (local.set $k (i32.add (local.get $k) (i32.const 1)))
            (br $kl)))
        (local.set $q (i32.add (local.get $q) (i32.const 1)))
        (br_if $ql (i32.lt_u (local.get $q) (local.get $P))))))
)
