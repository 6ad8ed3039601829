// The fused CPU selective scan (backend "cpp" of model/ops/selective_scan.py), built on first use by
// model/ops/compiled.py. Registers torch.ops.ssmad_scan.forward / backward.
//
//   dt = softplus(delta + delta_bias)  (each step optional)
//   h[t] = exp(dt[t] A) h[t-1] + dt[t] u[t] B[t];   y[t] = C[t] . h[t] + D u[t];   out = y silu(z)
//
// Work is split into blocks of W adjacent channels of one batch element and one B/C group; a block's
// values at one step are one 64-byte vector V (W = 16 floats or 8 doubles), written with the
// compiler's vector extension so that every operation is a vector instruction (AVX-512, or pairs of
// AVX2 ones), with no horizontal sums in the recurrence: per step and state n,
// h[n] = exp(dt A[n]) h[n] + dt u B[n] and y += C[n] h[n], while the block's N states stay in L1.
// No state-sized tensor is ever written, and bias, softplus, D and the gate are applied on the way
// in and out. The blocks are split into one contiguous range per thread (at::parallel_for: torch's
// own pool and thread count).
//
// Forward keeps each block's state at the start of every `chunk` steps. Backward walks the chunks
// from the last: it recomputes a chunk's decays and states from its start into a buffer, then runs
// the adjoint recurrence lam[t] = dL/dy[t] C[t] + exp(dt[t+1] A) lam[t+1] back through it, so
// forward + backward costs two exp() per state value. The gradients of B and C sum over the
// channels of a group: they collect as vectors over all blocks of the group that a thread holds,
// and are summed over the lanes once per chunk.
//
// Layouts: u, delta, z and grad_out are (batch, L, d_inner) with channel stride 1 and any batch and
// time strides; the outputs out, y (before the gate), grad_u, grad_delta, grad_z are contiguous
// (batch, L, d_inner). A (d_inner, N); B, C and their gradients (batch, groups, L, N); D and
// delta_bias (d_inner); last state and grad_last (batch, d_inner, N); checkpoints
// (blocks, n_chunks - 1, N, W). All contiguous unless stated, one dtype.

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <optional>
#include <tuple>
#include <vector>

#if defined(__AVX512F__)
#include <immintrin.h>
#elif defined(__SSE__)
#include <xmmintrin.h>
#endif

// The vector helpers must inline into the loops that call them (a call per vector costs more than the
// arithmetic); GCC's size heuristics would otherwise decline.
#define SSMAD_INLINE inline __attribute__((always_inline))

namespace {

// Subnormal floats make every instruction that touches them ~100x slower, and the adjoint of a
// fast-decaying state produces them (decay^2 lam underflows). Inside the kernel's threads they are
// flushed to zero (x86 FTZ + DAZ), which changes results by less than 1e-38; the thread's
// floating-point mode is restored afterwards.
class FlushDenormals {
 public:
#if defined(__SSE__)
  FlushDenormals() : saved_(_mm_getcsr()) { _mm_setcsr(saved_ | 0x8040); }
  ~FlushDenormals() { _mm_setcsr(saved_); }

 private:
  unsigned int saved_;
#endif
};

template <typename T>
struct Simd;
template <>
struct Simd<float> {
  using V = float __attribute__((vector_size(64)));
  using I = int32_t __attribute__((vector_size(64)));
};
template <>
struct Simd<double> {
  using V = double __attribute__((vector_size(64)));
};
template <typename T>
using Vec = typename Simd<T>::V;
template <typename T>
constexpr int64_t kLanes = sizeof(Vec<T>) / sizeof(T);

#if defined(__AVX512F__)
// exp of 16 floats with AVX-512's own scaling: k = round(x / ln2), r = x - k ln2 (ln2 in two parts),
// the degree-6 Cephes polynomial for e^r and vscalefps for e^r * 2^k, which also gives 0 and inf
// at the ends of float's range. Clamping first keeps r finite for x = +-inf; NaN propagates (it is
// the second operand of max/min).
SSMAD_INLINE Vec<float> exp_v(Vec<float> x) {
  const __m512 c = _mm512_min_ps(_mm512_set1_ps(89.0f), _mm512_max_ps(_mm512_set1_ps(-104.0f), (__m512)x));
  const __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(c, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(k, _mm512_set1_ps(0.693359375f), c);
  r = _mm512_fnmadd_ps(k, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  return (Vec<float>)_mm512_scalef_ps(p, k);
}
#else
// exp of 16 floats as straight-line vector arithmetic. Range reduction x = k ln2 + r with ln2 split
// in two parts (Cody-Waite), a degree-6 polynomial for e^r on |r| <= ln2 / 2 (the classic Cephes
// coefficients, ~1 ulp), and 2^k built in the exponent bits. Below -87 (under float's smallest
// normal number) the result is exactly 0: decays that small never matter next to a drive. NaN
// propagates.
SSMAD_INLINE Vec<float> exp_v(Vec<float> x) {
  using V = Vec<float>;
  using I = Simd<float>::I;
  const V lo = V{} - 87.0f, hi = V{} + 88.3762626647949f;
  V c = x < lo ? lo : x;
  c = c > hi ? hi : c;
  const V shifted = c * 1.44269504088896341f + 12582912.0f;  // + 1.5 * 2^23 rounds k into the low bits
  const V k = shifted - 12582912.0f;
  const V r = c - k * 0.693359375f + k * 2.12194440e-4f;
  V p = V{} + 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const I scale_bits = ((I)shifted - 0x4B400000 + 127) << 23;  // (k + 127) in the exponent field
  return x < lo ? V{} : p * (V)scale_bits;
}
#endif

// softplus with torch's threshold (x itself above 20): max(x, 0) + log1p(e), e = exp(-|x|) in (0, 1],
// and log1p(e) = 2 atanh(s) with s = e / (2 + e) in (0, 1/3], whose odd series to s^13 is exact to
// float rounding (no cancellation for small e).
SSMAD_INLINE Vec<float> softplus_v(Vec<float> x) {
  using V = Vec<float>;
  const V e = exp_v(x < 0 ? x : -x);
  const V s = e / (e + 2.0f), s2 = s * s;
  V p = V{} + 1.0f / 13.0f;
  p = p * s2 + 1.0f / 11.0f;
  p = p * s2 + 1.0f / 9.0f;
  p = p * s2 + 1.0f / 7.0f;
  p = p * s2 + 1.0f / 5.0f;
  p = p * s2 + 1.0f / 3.0f;
  p = p * s2 + 1.0f;
  const V result = (x > 0 ? x : V{}) + 2.0f * s * p;
  return x > 20.0f ? x : result;
}

// float64 keeps the library functions, lane by lane (exact to rounding; for tests and gradcheck).
SSMAD_INLINE Vec<double> exp_v(Vec<double> x) {
  for (int64_t l = 0; l < kLanes<double>; ++l) x[l] = std::exp(x[l]);
  return x;
}
SSMAD_INLINE Vec<double> softplus_v(Vec<double> x) {
  for (int64_t l = 0; l < kLanes<double>; ++l) x[l] = x[l] > 20.0 ? x[l] : std::log1p(std::exp(x[l]));
  return x;
}

template <typename V>
SSMAD_INLINE V sigmoid_v(V x) {
  return 1 / (exp_v(-x) + 1);
}

// Sum of a vector's lanes as a tree (halves added, then their halves...): a few shuffles and adds
// instead of a chain of kLanes scalar additions.
// Sum of a vector's lanes as a tree (the halves added, then their halves): a few shuffles and adds
// instead of a chain of scalar additions. memcpy is well-defined type punning, free in registers.
SSMAD_INLINE float lane_sum(Vec<float> v) {
  using V8 = float __attribute__((vector_size(32)));
  using V4 = float __attribute__((vector_size(16)));
  V8 low8, high8;
  std::memcpy(&low8, &v, 32);
  std::memcpy(&high8, reinterpret_cast<const char*>(&v) + 32, 32);
  const V8 sum8 = low8 + high8;
  V4 low4, high4;
  std::memcpy(&low4, &sum8, 16);
  std::memcpy(&high4, reinterpret_cast<const char*>(&sum8) + 16, 16);
  const V4 sum4 = low4 + high4;
  return (sum4[0] + sum4[2]) + (sum4[1] + sum4[3]);
}

SSMAD_INLINE double lane_sum(Vec<double> v) {
  using V4 = double __attribute__((vector_size(32)));
  V4 low, high;
  std::memcpy(&low, &v, 32);
  std::memcpy(&high, reinterpret_cast<const char*>(&v) + 32, 32);
  const V4 sum = low + high;
  return (sum[0] + sum[2]) + (sum[1] + sum[3]);
}

// The block's `active` channels from src as a vector, 0 in the padding lanes.
// (A full block's copy has a constant size, so it compiles to one vector move, not a memcpy call.)
template <typename T>
SSMAD_INLINE Vec<T> load(const T* src, int64_t active) {
  Vec<T> v{};
  if (active == kLanes<T>) {
    std::memcpy(&v, src, sizeof v);
  } else {
    std::memcpy(&v, src, active * sizeof(T));
  }
  return v;
}

template <typename T>
SSMAD_INLINE void store(T* dst, Vec<T> v, int64_t active) {
  if (active == kLanes<T>) {
    std::memcpy(dst, &v, sizeof v);
  } else {
    std::memcpy(dst, &v, active * sizeof(T));
  }
}

// A (batch, L, d_inner) input with channel stride 1.
template <typename T>
struct Series {
  const T* data = nullptr;
  int64_t batch_stride = 0, time_stride = 0;
};

template <typename T>
Series<T> series_of(const std::optional<at::Tensor>& x) {
  if (!x.has_value()) return {};
  return {x->data_ptr<T>(), x->stride(0), x->stride(1)};
}

// Shapes, inputs and the block decomposition shared by forward and backward.
template <typename T>
struct Scan {
  static constexpr int64_t W = kLanes<T>;
  Series<T> u, delta, z;                // z.data: nullptr without a gate
  const T *A, *B, *C, *D, *delta_bias;  // D, delta_bias: nullptr when absent
  bool softplus;
  int64_t batch, length, d_inner, n, groups, chunk;

  int64_t per_group() const { return d_inner / groups; }
  int64_t blocks_per_group() const { return (per_group() + W - 1) / W; }
  int64_t blocks() const { return batch * groups * blocks_per_group(); }
  int64_t n_chunks() const { return (length + chunk - 1) / chunk; }
  int64_t batch_of(int64_t block) const { return block / (groups * blocks_per_group()); }
  int64_t group_of(int64_t block) const { return block / blocks_per_group() % groups; }
  int64_t first_channel(int64_t block) const { return group_of(block) * per_group() + block % blocks_per_group() * W; }
  int64_t active(int64_t block) const { return std::min(W, per_group() - block % blocks_per_group() * W); }
  int64_t bc_offset(int64_t block) const { return (batch_of(block) * groups + group_of(block)) * length * n; }
  const T* checkpoint(const T* checkpoints, int64_t block, int64_t k) const {
    return checkpoints + (block * (n_chunks() - 1) + k - 1) * n * W;
  }
};

// Where one block reads and writes: the offsets of (batch, t = 0, first channel) in u, delta, z,
// grad_out and the contiguous outputs, and how far each moves per step (computed once per block).
template <typename T>
struct Rows {
  struct Offsets {
    int64_t u, delta, z, grad, out;
  };
  Offsets start, step;
  Rows(const Scan<T>& s, int64_t block, const Series<T>& grad_out = {}) {
    const int64_t b = s.batch_of(block), c = s.first_channel(block);
    start = {b * s.u.batch_stride + c, b * s.delta.batch_stride + c, b * s.z.batch_stride + c,
             b * grad_out.batch_stride + c, b * s.length * s.d_inner + c};
    step = {s.u.time_stride, s.delta.time_stride, s.z.time_stride, grad_out.time_stride, s.d_inner};
  }
  Offsets at(int64_t t) const {
    return {start.u + t * step.u, start.delta + t * step.delta, start.z + t * step.z, start.grad + t * step.grad,
            start.out + t * step.out};
  }
};

// Steps are read kPrefetch ahead: a block's consecutive steps are d_inner values apart, one cache
// line each per series, which the hardware prefetcher does not always see coming.
constexpr int64_t kPrefetch = 8;

template <typename T>
SSMAD_INLINE void prefetch_step(const Scan<T>& s, const typename Rows<T>::Offsets& ahead) {
  __builtin_prefetch(s.delta.data + ahead.delta);
  __builtin_prefetch(s.u.data + ahead.u);
  if (s.z.data != nullptr) __builtin_prefetch(s.z.data + ahead.z);
}

// Per-channel constants of one block as vectors: A (N of them), D, delta_bias; padding lanes 0.
template <typename T>
struct BlockConstants {
  using V = Vec<T>;
  std::vector<V> A;
  V D{}, bias{};
  explicit BlockConstants(int64_t n) : A(n) {}
  void load_for(const Scan<T>& s, int64_t block) {
    const int64_t c0 = s.first_channel(block), active = s.active(block);
    for (int64_t i = 0; i < s.n; ++i) {
      A[i] = V{};
      for (int64_t l = 0; l < active; ++l) A[i][l] = s.A[(c0 + l) * s.n + i];
    }
    D = s.D != nullptr ? load(s.D + c0, active) : V{};
    bias = s.delta_bias != nullptr ? load(s.delta_bias + c0, active) : V{};
  }
};

// The step's inputs: raw = delta + bias, dt = softplus(raw) or raw, and u. (In padding lanes u = 0,
// so their states stay 0 whatever dt is.)
template <typename T>
struct StepInputs {
  Vec<T> raw, dt, u;
};

template <typename T>
SSMAD_INLINE StepInputs<T> load_step(const Scan<T>& s, const BlockConstants<T>& k, const typename Rows<T>::Offsets& at,
                                     int64_t active) {
  const Vec<T> raw = load(s.delta.data + at.delta, active) + k.bias;
  return {raw, s.softplus ? softplus_v(raw) : raw, load(s.u.data + at.u, active)};
}

// One step of a block: h <- exp(dt A) h + dt u B for the N states; returns C . h.
template <typename T>
SSMAD_INLINE Vec<T> step(Vec<T>* __restrict h, const Vec<T>* __restrict A, const T* __restrict Bt, const T* __restrict Ct,
                   Vec<T> dt, Vec<T> dt_u, int64_t n) {
  Vec<T> y0{}, y1{};  // two sums: half the dependency chain
  int64_t i = 0;
  for (; i + 1 < n; i += 2) {
    const Vec<T> h0 = exp_v(dt * A[i]) * h[i] + dt_u * Bt[i];
    const Vec<T> h1 = exp_v(dt * A[i + 1]) * h[i + 1] + dt_u * Bt[i + 1];
    h[i] = h0;
    h[i + 1] = h1;
    y0 += h0 * Ct[i];
    y1 += h1 * Ct[i + 1];
  }
  if (i < n) {
    h[i] = exp_v(dt * A[i]) * h[i] + dt_u * Bt[i];
    y0 += h[i] * Ct[i];
  }
  return y0 + y1;
}

// The same step for backward's recompute: from the previous states, stores exp(dt A) and the new states.
template <typename T>
SSMAD_INLINE void step_kept(const Vec<T>* __restrict previous, const Vec<T>* __restrict A, const T* __restrict Bt, Vec<T> dt,
                            Vec<T> dt_u, int64_t n, Vec<T>* __restrict decays, Vec<T>* __restrict states) {
  for (int64_t i = 0; i < n; ++i) {
    const Vec<T> decay = exp_v(dt * A[i]);
    decays[i] = decay;
    states[i] = decay * previous[i] + dt_u * Bt[i];
  }
}

template <typename T>
void forward_block(const Scan<T>& s, int64_t block, T* out, T* y_kept, T* last, T* checkpoints, BlockConstants<T>& k,
                   std::vector<Vec<T>>& h) {
  using V = Vec<T>;
  const int64_t n = s.n, active = s.active(block), c0 = s.first_channel(block);
  const T* B = s.B + s.bc_offset(block);
  const T* C = s.C + s.bc_offset(block);
  k.load_for(s, block);
  std::fill(h.begin(), h.end(), V{});
  const Rows<T> rows(s, block);
  for (int64_t c = 0; c < s.n_chunks(); ++c) {
    if (checkpoints != nullptr && c > 0) std::memcpy(checkpoints + (block * (s.n_chunks() - 1) + c - 1) * n * s.W, h.data(), n * sizeof(V));
    for (int64_t t = c * s.chunk; t < std::min(s.length, (c + 1) * s.chunk); ++t) {
      const typename Rows<T>::Offsets at = rows.at(t);
      prefetch_step(s, rows.at(std::min(t + kPrefetch, s.length - 1)));
      const StepInputs<T> in = load_step(s, k, at, active);
      V y = step(h.data(), k.A.data(), B + t * n, C + t * n, in.dt, in.dt * in.u, n) + k.D * in.u;
      if (s.z.data != nullptr) {
        if (y_kept != nullptr) store(y_kept + at.out, y, active);
        const V z = load(s.z.data + at.z, active);
        y *= z * sigmoid_v(z);
      }
      store(out + at.out, y, active);
    }
  }
  for (int64_t l = 0; l < active; ++l) {
    for (int64_t i = 0; i < n; ++i) last[(s.batch_of(block) * s.d_inner + c0 + l) * n + i] = h[i][l];
  }
}

// The gradients backward writes, and the per-thread slices of those that several blocks share.
template <typename T>
struct Gradients {
  T *u, *delta, *z;       // (batch, L, d_inner); z: nullptr without a gate
  T *B, *C;               // this thread's (batch, groups, L, N) slice
  T *A, *D, *delta_bias;  // this thread's (d_inner, N) and (d_inner) slices
};

// Per block of a group run: the adjoint carried between chunks and the per-channel gradient sums.
template <typename T>
struct BlockAdjoint {
  using V = Vec<T>;
  BlockConstants<T> constants;
  std::vector<V> carry, grad_A;  // N each
  V grad_D{}, grad_bias{};
  explicit BlockAdjoint(int64_t n) : constants(n), carry(n), grad_A(n) {}
};

// Scratch of one thread in backward.
template <typename T>
struct Workspace {
  using V = Vec<T>;
  std::vector<V> decays, states;          // (chunk, N): one block's recomputed chunk
  std::vector<StepInputs<T>> inputs;      // (chunk): its inputs
  std::vector<V> grad_B, grad_C;          // (chunk, N): the group's B, C gradients before the lane sum
  std::vector<BlockAdjoint<T>> blocks;    // per block of the group run
  std::vector<V> start;                   // (N): the state before the chunk
  Workspace(int64_t chunk, int64_t n, int64_t blocks_per_run)
      : decays(chunk * n), states(chunk * n), inputs(chunk), grad_B(chunk * n), grad_C(chunk * n),
        blocks(blocks_per_run, BlockAdjoint<T>(n)), start(n) {}
};

template <typename T>
struct BackwardInputs {
  const T* checkpoints;  // from forward
  Series<T> grad_out;    // (batch, L, d_inner), channel stride 1
  const T* grad_last;    // (batch, d_inner, N)
  const T* y;            // (batch, L, d_inner) before the gate; nullptr without z
};

// Backward through one chunk [t0, t1) of one block: adds to the chunk's B, C gradient vectors and
// the block's A, D, bias sums, writes grad_u, grad_delta, grad_z, and leaves in the block's carry
// the adjoint flowing into step t0 - 1.
template <typename T>
void backward_block_chunk(const Scan<T>& s, const BackwardInputs<T>& in, int64_t block, BlockAdjoint<T>& adj,
                          int64_t t0, int64_t t1, const Gradients<T>& out, Workspace<T>& ws) {
  using V = Vec<T>;
  const int64_t n = s.n, active = s.active(block);
  const BlockConstants<T>& k = adj.constants;
  const V* A = k.A.data();
  const T* B = s.B + s.bc_offset(block);
  const T* C = s.C + s.bc_offset(block);
  if (t0 == 0) {
    std::fill(ws.start.begin(), ws.start.end(), V{});
  } else {
    std::memcpy(ws.start.data(), s.checkpoint(in.checkpoints, block, t0 / s.chunk), n * sizeof(V));
  }
  const Rows<T> rows(s, block, in.grad_out);
  for (int64_t t = t0; t < t1; ++t) {
    prefetch_step(s, rows.at(std::min(t + kPrefetch, s.length - 1)));
    const StepInputs<T> x = load_step(s, k, rows.at(t), active);
    ws.inputs[t - t0] = x;
    V* states = ws.states.data() + (t - t0) * n;
    step_kept(t > t0 ? states - n : ws.start.data(), A, B + t * n, x.dt, x.dt * x.u, n, ws.decays.data() + (t - t0) * n, states);
  }
  V* __restrict carry = adj.carry.data();
  V* __restrict grad_A = adj.grad_A.data();
  for (int64_t t = t1 - 1; t >= t0; --t) {
    const StepInputs<T>& x = ws.inputs[t - t0];
    const typename Rows<T>::Offsets at = rows.at(t);
    __builtin_prefetch(in.grad_out.data + rows.at(std::max<int64_t>(t - kPrefetch, 0)).grad);
    V g = load(in.grad_out.data + at.grad, active);
    if (s.z.data != nullptr) {  // out = y silu(z): dL/dy = g silu(z), dL/dz = g y sig (1 + z (1 - sig))
      const V z = load(s.z.data + at.z, active), sig = sigmoid_v(z);
      store(out.z + at.out, g * load(in.y + at.out, active) * sig * (1 + z * (1 - sig)), active);
      g *= z * sig;
    }
    adj.grad_D += g * x.u;
    const V dt_u = x.dt * x.u;
    const V* __restrict decay = ws.decays.data() + (t - t0) * n;
    const V* __restrict state = ws.states.data() + (t - t0) * n;
    const V* __restrict previous = t > t0 ? state - n : ws.start.data();  // h[t - 1]
    V* __restrict gB = ws.grad_B.data() + (t - t0) * n;
    V* __restrict gC = ws.grad_C.data() + (t - t0) * n;
    const T* __restrict Bt = B + t * n;
    const T* __restrict Ct = C + t * n;
    V lam_B{}, log_decay_A{};
    for (int64_t i = 0; i < n; ++i) {
      const V lam = g * Ct[i] + carry[i];
      const V grad_log_decay = lam * decay[i] * previous[i];  // d/d(log decay[t]) of decay[t] h[t-1]
      gC[i] += g * state[i];
      gB[i] += lam * dt_u;
      grad_A[i] += grad_log_decay * x.dt;
      lam_B += lam * Bt[i];
      log_decay_A += grad_log_decay * A[i];
      carry[i] = decay[i] * lam;
    }
    store(out.u + at.out, x.dt * lam_B + g * k.D, active);
    V grad_dt = x.u * lam_B + log_decay_A;
    if (s.softplus) grad_dt = x.raw > 20 ? grad_dt : grad_dt * sigmoid_v(x.raw);  // torch's softplus backward
    adj.grad_bias += grad_dt;
    store(out.delta + at.out, grad_dt, active);
  }
}

// Backward of the blocks [first, last) of one (batch, group): chunk by chunk from the end, every
// block per chunk, then the lane sums of the chunk's B and C gradients; at the end the per-channel
// gradients (A, D, bias) into the thread's slices.
template <typename T>
void backward_group_run(const Scan<T>& s, const BackwardInputs<T>& in, int64_t first, int64_t last,
                        const Gradients<T>& out, Workspace<T>& ws) {
  using V = Vec<T>;
  const int64_t n = s.n, count = last - first, bc = s.bc_offset(first);
  for (int64_t j = 0; j < count; ++j) {
    const int64_t block = first + j, c0 = s.first_channel(block);
    BlockAdjoint<T>& adj = ws.blocks[j];
    adj.constants.load_for(s, block);
    for (int64_t i = 0; i < n; ++i) {
      adj.carry[i] = V{};
      adj.grad_A[i] = V{};
      for (int64_t l = 0; l < s.active(block); ++l) adj.carry[i][l] = in.grad_last[(s.batch_of(block) * s.d_inner + c0 + l) * n + i];
    }
    adj.grad_D = V{};
    adj.grad_bias = V{};
  }
  for (int64_t c = s.n_chunks() - 1; c >= 0; --c) {
    const int64_t t0 = c * s.chunk, t1 = std::min(s.length, t0 + s.chunk);
    std::fill(ws.grad_B.begin(), ws.grad_B.begin() + (t1 - t0) * n, V{});
    std::fill(ws.grad_C.begin(), ws.grad_C.begin() + (t1 - t0) * n, V{});
    for (int64_t j = 0; j < count; ++j) backward_block_chunk(s, in, first + j, ws.blocks[j], t0, t1, out, ws);
    for (int64_t t = t0; t < t1; ++t) {
      for (int64_t i = 0; i < n; ++i) {
        out.B[bc + t * n + i] += lane_sum(ws.grad_B[(t - t0) * n + i]);
        out.C[bc + t * n + i] += lane_sum(ws.grad_C[(t - t0) * n + i]);
      }
    }
  }
  for (int64_t j = 0; j < count; ++j) {
    const int64_t block = first + j, c0 = s.first_channel(block);
    const BlockAdjoint<T>& adj = ws.blocks[j];
    for (int64_t l = 0; l < s.active(block); ++l) {
      for (int64_t i = 0; i < n; ++i) out.A[(c0 + l) * n + i] += adj.grad_A[i][l];
      out.D[c0 + l] += adj.grad_D[l];
      out.delta_bias[c0 + l] += adj.grad_bias[l];
    }
  }
}

void check_series(const at::Tensor& x, const at::Tensor& u, const char* name) {
  TORCH_CHECK(x.device().is_cpu() && x.scalar_type() == u.scalar_type(), "ssmad_scan: ", name, " must be a CPU tensor of u's dtype");
  TORCH_CHECK(x.dim() == 3 && x.sizes() == u.sizes() && (x.stride(2) == 1 || x.size(2) == 1), "ssmad_scan: ", name,
              " must be (batch, L, d_inner) like u, with channel stride 1");
}

void check_param(const at::Tensor& x, const at::Tensor& u, at::IntArrayRef shape, const char* name) {
  TORCH_CHECK(x.device().is_cpu() && x.scalar_type() == u.scalar_type() && x.is_contiguous() && x.sizes() == shape,
              "ssmad_scan: ", name, " must be a contiguous CPU tensor of u's dtype and shape ", shape);
}

void check_inputs(const at::Tensor& u, const at::Tensor& delta, const at::Tensor& A, const at::Tensor& B, const at::Tensor& C,
                  const std::optional<at::Tensor>& D, const std::optional<at::Tensor>& z,
                  const std::optional<at::Tensor>& delta_bias, int64_t chunk) {
  check_series(u, u, "u");
  check_series(delta, u, "delta");
  if (z.has_value()) check_series(*z, u, "z");
  const int64_t batch = u.size(0), length = u.size(1), d_inner = u.size(2);
  TORCH_CHECK(A.dim() == 2 && B.dim() == 4 && B.size(1) >= 1 && d_inner % B.size(1) == 0,
              "ssmad_scan: A (d_inner, N) and B, C (batch, groups, L, N) with groups dividing d_inner");
  check_param(A, u, {d_inner, A.size(1)}, "A");
  check_param(B, u, {batch, B.size(1), length, A.size(1)}, "B");
  check_param(C, u, B.sizes(), "C");
  if (D.has_value()) check_param(*D, u, {d_inner}, "D");
  if (delta_bias.has_value()) check_param(*delta_bias, u, {d_inner}, "delta_bias");
  TORCH_CHECK(chunk >= 1, "ssmad_scan: chunk >= 1");
}

template <typename T>
Scan<T> scan_of(const at::Tensor& u, const at::Tensor& delta, const at::Tensor& A, const at::Tensor& B, const at::Tensor& C,
                const std::optional<at::Tensor>& D, const std::optional<at::Tensor>& z,
                const std::optional<at::Tensor>& delta_bias, bool softplus, int64_t chunk) {
  return {series_of<T>(u), series_of<T>(delta), series_of<T>(z), A.data_ptr<T>(), B.data_ptr<T>(), C.data_ptr<T>(),
          D.has_value() ? D->data_ptr<T>() : nullptr, delta_bias.has_value() ? delta_bias->data_ptr<T>() : nullptr,
          softplus, u.size(0), u.size(1), u.size(2), A.size(1), B.size(1), chunk};
}

int64_t checkpoint_count(int64_t blocks, int64_t length, int64_t chunk) {
  return blocks * std::max<int64_t>((length + chunk - 1) / chunk - 1, 0);
}

// (out, y before the gate (empty unless z and keep), last state, checkpoints (empty unless keep)).
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> scan_forward(
    const at::Tensor& u, const at::Tensor& delta, const at::Tensor& A, const at::Tensor& B, const at::Tensor& C,
    const std::optional<at::Tensor>& D, const std::optional<at::Tensor>& z, const std::optional<at::Tensor>& delta_bias,
    bool softplus, int64_t chunk, bool keep) {
  check_inputs(u, delta, A, B, C, D, z, delta_bias, chunk);
  const int64_t batch = u.size(0), length = u.size(1), d_inner = u.size(2), n = A.size(1);
  at::Tensor out = at::empty({batch, length, d_inner}, u.options());
  at::Tensor y = at::empty({keep && z.has_value() ? batch : 0, length, d_inner}, u.options());
  at::Tensor last = at::empty({batch, d_inner, n}, u.options());
  at::Tensor checkpoints;
  AT_DISPATCH_FLOATING_TYPES(u.scalar_type(), "ssmad_scan_forward", [&] {
    const Scan<scalar_t> s = scan_of<scalar_t>(u, delta, A, B, C, D, z, delta_bias, softplus, chunk);
    checkpoints = at::empty({keep ? checkpoint_count(s.blocks(), length, chunk) : 0, n, s.W}, u.options());
    scalar_t* kept_checkpoints = keep ? checkpoints.data_ptr<scalar_t>() : nullptr;
    scalar_t* kept_y = y.numel() ? y.data_ptr<scalar_t>() : nullptr;
    at::parallel_for(0, s.blocks(), 1, [&](int64_t begin, int64_t end) {
      const FlushDenormals flush;
      BlockConstants<scalar_t> constants(n);
      std::vector<Vec<scalar_t>> h(n);
      for (int64_t block = begin; block < end; ++block) {
        forward_block(s, block, out.data_ptr<scalar_t>(), kept_y, last.data_ptr<scalar_t>(), kept_checkpoints, constants, h);
      }
    });
  });
  return {out, y, last, checkpoints};
}

// (grad_u, grad_delta, grad_A, grad_B, grad_C, grad_D, grad_z, grad_delta_bias); the last three are
// undefined (None) when their input is absent.
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> scan_backward(
    const at::Tensor& u, const at::Tensor& delta, const at::Tensor& A, const at::Tensor& B, const at::Tensor& C,
    const std::optional<at::Tensor>& D, const std::optional<at::Tensor>& z, const std::optional<at::Tensor>& delta_bias,
    bool softplus, int64_t chunk, const at::Tensor& checkpoints, const at::Tensor& y, const at::Tensor& grad_out,
    const at::Tensor& grad_last) {
  check_inputs(u, delta, A, B, C, D, z, delta_bias, chunk);
  check_series(grad_out, u, "grad_out");
  check_param(grad_last, u, {u.size(0), u.size(2), A.size(1)}, "grad_last");
  if (z.has_value()) check_param(y, u, u.sizes(), "y");
  const int64_t batch = u.size(0), length = u.size(1), d_inner = u.size(2), n = A.size(1);
  at::Tensor grad_u = at::empty({batch, length, d_inner}, u.options());
  at::Tensor grad_delta = at::empty({batch, length, d_inner}, u.options());
  at::Tensor grad_z = at::empty({z.has_value() ? batch : 0, length, d_inner}, u.options());
  at::Tensor grad_B, grad_C, grad_A, grad_D, grad_bias;
  AT_DISPATCH_FLOATING_TYPES(u.scalar_type(), "ssmad_scan_backward", [&] {
    const Scan<scalar_t> s = scan_of<scalar_t>(u, delta, A, B, C, D, z, delta_bias, softplus, chunk);
    const int64_t blocks = s.blocks();
    TORCH_CHECK(checkpoints.is_contiguous() && checkpoints.numel() == checkpoint_count(blocks, length, chunk) * n * s.W,
                "ssmad_scan: checkpoints from forward with the same chunk");
    // Thread task t sums the gradients its blocks share into slice t; the slices are added at the end.
    const int64_t tasks = std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), blocks));
    grad_B = at::zeros({tasks, B.size(0), B.size(1), B.size(2), B.size(3)}, B.options());
    grad_C = at::zeros(grad_B.sizes(), B.options());
    grad_A = at::zeros({tasks, d_inner, n}, A.options());
    grad_D = at::zeros({tasks, d_inner}, A.options());
    grad_bias = at::zeros({tasks, d_inner}, A.options());
    const int64_t bc_size = B.numel(), a_size = A.numel();
    const BackwardInputs<scalar_t> in{checkpoints.data_ptr<scalar_t>(), series_of<scalar_t>(grad_out),
                                      grad_last.data_ptr<scalar_t>(), z.has_value() ? y.data_ptr<scalar_t>() : nullptr};
    at::parallel_for(0, tasks, 1, [&](int64_t task_begin, int64_t task_end) {
      const FlushDenormals flush;
      Workspace<scalar_t> ws(chunk, n, std::min(s.blocks_per_group(), blocks));
      for (int64_t task = task_begin; task < task_end; ++task) {
        const Gradients<scalar_t> out{grad_u.data_ptr<scalar_t>(), grad_delta.data_ptr<scalar_t>(),
                                      z.has_value() ? grad_z.data_ptr<scalar_t>() : nullptr,
                                      grad_B.data_ptr<scalar_t>() + task * bc_size, grad_C.data_ptr<scalar_t>() + task * bc_size,
                                      grad_A.data_ptr<scalar_t>() + task * a_size, grad_D.data_ptr<scalar_t>() + task * d_inner,
                                      grad_bias.data_ptr<scalar_t>() + task * d_inner};
        const int64_t begin = blocks * task / tasks, end = blocks * (task + 1) / tasks;
        for (int64_t first = begin; first < end;) {  // runs of blocks that share (batch, group)
          const int64_t last = std::min(end, (first / s.blocks_per_group() + 1) * s.blocks_per_group());
          backward_group_run(s, in, first, last, out, ws);
          first = last;
        }
      }
    });
    for (at::Tensor* g : {&grad_B, &grad_C, &grad_A, &grad_D, &grad_bias}) {
      scalar_t* data = g->data_ptr<scalar_t>();
      const int64_t size = g->numel() / tasks;
      for (int64_t task = 1; task < tasks; ++task) {
        for (int64_t i = 0; i < size; ++i) data[i] += data[task * size + i];
      }
    }
  });
  const auto first_slice = [](const at::Tensor& g, bool present) { return present ? g[0] : at::Tensor(); };
  return {grad_u,     grad_delta, grad_A[0], grad_B[0], grad_C[0], first_slice(grad_D, D.has_value()),
          z.has_value() ? grad_z : at::Tensor(), first_slice(grad_bias, delta_bias.has_value())};
}

}  // namespace

TORCH_LIBRARY(ssmad_scan, m) {
  m.def("forward(Tensor u, Tensor delta, Tensor A, Tensor B, Tensor C, Tensor? D, Tensor? z, Tensor? delta_bias, "
        "bool softplus, int chunk, bool keep) -> (Tensor, Tensor, Tensor, Tensor)");
  m.def("backward(Tensor u, Tensor delta, Tensor A, Tensor B, Tensor C, Tensor? D, Tensor? z, Tensor? delta_bias, "
        "bool softplus, int chunk, Tensor checkpoints, Tensor y, Tensor grad_out, Tensor grad_last) "
        "-> (Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(ssmad_scan, CPU, m) {
  m.impl("forward", &scan_forward);
  m.impl("backward", &scan_backward);
}
