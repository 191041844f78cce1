// LMLTE's grid decoder as one loop per query: the render input, the modulated render MLP and
// the area-weighted local ensemble of a block of output rows, with every intermediate in
// registers (engine/models/lmlte/compiled.py builds and calls it; the arithmetic per query is
// that of LMLTE.tables, LMLTE.render_input, LMMLP.forward and the point-query path).
//
// Why: the render MLP is 16 channels wide. As separate operations (a matrix product per layer,
// then the gathered modulation and the ReLU) every layer is a pass over memory for 512
// floating-point operations per query, and the decoder ran at about a fifth of the machine's
// FLOP rate. Here four queries share each weight load and a layer is 32 vector
// multiply-adds per query.
//
// Sizes are compile-time constants (one build per model size): HID (hidden width, a multiple of
// 16), DEPTH (hidden layers), OUT (output channels). Portable C++ with GCC/Clang vector
// extensions: AVX2 with FMA on x86-64 CPUs that have it, the compiler's baseline elsewhere.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#if !defined(HID) || !defined(DEPTH) || !defined(OUT)
#error "build with -DHID=... -DDEPTH=... -DOUT=..."
#endif
static_assert(HID % 16 == 0, "the hidden width must be a multiple of 16");

namespace {

constexpr int kVec = HID / 8;    // 8-float vectors per hidden row
constexpr int kHalf = HID / 2;   // angles per query (cosines, then sines)
constexpr int kMembers = 4;      // local-ensemble members
constexpr int kQueries = 4;      // queries sharing each weight load

typedef float v8 __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));

inline v8 load(const float* p) { v8 v; std::memcpy(&v, p, sizeof v); return v; }
inline void store(float* p, v8 v) { std::memcpy(p, &v, sizeof v); }
inline v8 splat(float s) { return v8{} + s; }

// Sine and cosine of 8 angles: Cody-Waite reduction by pi/2 in three parts, then the classic
// single-precision minimax polynomials on [-pi/4, pi/4] (about 1 ulp for the angles of a
// render input, |x| < 1e4).
inline void sincos(v8 x, v8& s, v8& c) {
  const v8 round = splat(12582912.0f);  // 1.5 * 2^23: adding and subtracting rounds to integers
  v8 j = (x * splat(0.636619772367581343f) + round) - round;
  v8 r = x - j * splat(1.5703125f);
  r = r - j * splat(4.837512969970703125e-4f);
  r = r - j * splat(7.54978995489188216e-8f);
  v8i q = __builtin_convertvector(j, v8i);
  v8 r2 = r * r;
  v8 sp = r + r * r2 * (splat(-1.6666654611e-1f) +
                        r2 * (splat(8.3321608736e-3f) + r2 * splat(-1.9515295891e-4f)));
  v8 cp = splat(1.0f) - splat(0.5f) * r2 +
          r2 * r2 * (splat(4.166664568298827e-2f) +
                     r2 * (splat(-1.388731625493765e-3f) + r2 * splat(2.443315711809948e-5f)));
  v8i odd = (q & 1) != 0;
  v8 sv = odd ? cp : sp;
  v8 cv = odd ? sp : cp;
  // The sine is negative in quadrants 2 and 3, the cosine in 1 and 2: flip the sign bit.
  s = (v8)((v8i)sv ^ ((q & 2) << 30));
  c = (v8)((v8i)cv ^ (((q + 1) & 2) << 30));
}

inline float hsum(v8 v) {
  float lanes[8];
  store(lanes, v);
  return ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) +
         ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
}

struct Model {
  const float* mods;    // (h * w, RECORD): the latent MLP's output per LR pixel (below)
  const float* phase;   // (HID / 2,) the cell's phase term, times pi
  const float* weight;  // (DEPTH, HID, HID): hidden layer l's weight transposed, [l][in][out]
  const float* out_w;   // (OUT, HID)
  const float* out_b;   // (OUT,)
};

// An LR pixel's record: the latent MLP's output (LMF layout), per hidden layer l a scale
// modulation s_l, then per layer a shift t_l, then the render input's coefficients and its
// frequencies as (y, x) pairs; lmlte_prepare_records turns it in place into the decoder's
// record, with the per-pixel arithmetic of LMLTE.tables done once per LR pixel instead of once
// per query: per layer the scale 1 + s_l, then per layer the shift t_l + (1 + s_l) * bias_l,
// the coefficients, then the frequencies times pi, those along y and then those along x.
constexpr int kRecord = 2 * DEPTH * HID + 2 * HID;
constexpr int kShift = DEPTH * HID, kCoef = 2 * DEPTH * HID, kFreq = kCoef + HID;

// The render-MLP outputs of kQueries queries whose LR pixels are pix[q] (row-major) at
// offsets (ry, rx[q]) in LR pixels.
inline void render(const Model& m, const int64_t* pix, float ry, const float* rx,
                   float pred[kQueries][OUT]) {
  alignas(32) float x[kQueries][HID];
  for (int q = 0; q < kQueries; ++q) {
    const float* rec = m.mods + pix[q] * kRecord;
    for (int a = 0; a < kHalf; a += 8) {
      v8 angle = load(m.phase + a) + load(rec + kFreq + a) * splat(ry);
      angle = angle + load(rec + kFreq + kHalf + a) * splat(rx[q]);
      v8 s, c;
      sincos(angle, s, c);
      store(x[q] + a, c * load(rec + kCoef + a));
      store(x[q] + kHalf + a, s * load(rec + kCoef + kHalf + a));
    }
  }
  for (int l = 0; l < DEPTH; ++l) {
    const float* wt = m.weight + l * HID * HID;
    // The layer input broadcast from registers, a lane at a time: a vector store followed by
    // scalar broadcast loads stalled on store forwarding (about 1.1 times slower).
    v8 dup[kQueries][2 * kVec];
    for (int q = 0; q < kQueries; ++q)
      for (int v = 0; v < kVec; ++v) {
        v8 xv = load(x[q] + 8 * v);
        dup[q][2 * v] = __builtin_shuffle(xv, v8i{0, 1, 2, 3, 0, 1, 2, 3});
        dup[q][2 * v + 1] = __builtin_shuffle(xv, v8i{4, 5, 6, 7, 4, 5, 6, 7});
      }
    v8 acc[kQueries][kVec] = {};
#pragma GCC unroll 16
    for (int k = 0; k < HID; ++k) {
      v8 w[kVec];
      for (int v = 0; v < kVec; ++v) w[v] = load(wt + k * HID + 8 * v);
      const int i = k % 4;
      for (int q = 0; q < kQueries; ++q) {
        v8 b = __builtin_shuffle(dup[q][k / 4], v8i{i, i, i, i, i + 4, i + 4, i + 4, i + 4});
        for (int v = 0; v < kVec; ++v) acc[q][v] += b * w[v];
      }
    }
    // Modulated as in LMMLP: x W * scale + shift, then the ReLU.
    for (int q = 0; q < kQueries; ++q) {
      const float* rec = m.mods + pix[q] * kRecord;
      for (int v = 0; v < kVec; ++v) {
        const v8 scale = load(rec + l * HID + 8 * v);
        const v8 shift = load(rec + kShift + l * HID + 8 * v);
        const v8 y = shift + acc[q][v] * scale;
        store(x[q] + 8 * v, y > 0 ? y : splat(0.0f));
      }
    }
  }
  for (int q = 0; q < kQueries; ++q) {
    for (int o = 0; o < OUT; ++o) {
      v8 t = v8{};
      for (int v = 0; v < kVec; ++v) t += load(x[q] + 8 * v) * load(m.out_w + o * HID + 8 * v);
      pred[q][o] = hsum(t) + m.out_b[o];
    }
  }
}


// A block of output rows of one band (see lmlte_decode_rows).
struct Block {
  Model m;
  int64_t w, n, ncols;
  const int64_t* rows;
  const int64_t* cols;
  const float* rel_y;
  const float* rel_x;
  float* out;
  int64_t out_channel, out_row;
};

void decode(const Block& b, int64_t y_begin, int64_t y_end) {
  const int64_t n = b.n, ncols = b.ncols;
  std::vector<float> acc(static_cast<size_t>(OUT) * ncols);
  std::vector<float> weights(static_cast<size_t>(kMembers) * ncols);
  for (int64_t y = y_begin; y < y_end; ++y) {
    // Area weights: each member weighted by the diagonally opposite one's area over the sum.
    for (int64_t x = 0; x < ncols; ++x) {
      float area[kMembers];
      for (int e = 0; e < kMembers; ++e)
        area[e] = std::fabs(b.rel_y[e * n + y] * b.rel_x[e * ncols + x]) + 1e-9f;
      float total = ((area[0] + area[1]) + area[2]) + area[3];
      for (int e = 0; e < kMembers; ++e) weights[e * ncols + x] = area[kMembers - 1 - e] / total;
    }
    for (int e = 0; e < kMembers; ++e) {
      const int64_t row = b.rows[e * n + y];
      const float ry = b.rel_y[e * n + y];
      const int64_t* col = b.cols + e * ncols;
      const float* rx = b.rel_x + e * ncols;
      for (int64_t x0 = 0; x0 < ncols; x0 += kQueries) {
        int64_t pix[kQueries];
        float rxq[kQueries];
        for (int q = 0; q < kQueries; ++q) {
          int64_t x = x0 + q < ncols ? x0 + q : ncols - 1;  // the last block repeats a column
          pix[q] = row * b.w + col[x];
          rxq[q] = rx[x];
        }
        float pred[kQueries][OUT];
        render(b.m, pix, ry, rxq, pred);
        for (int q = 0; q < kQueries && x0 + q < ncols; ++q) {
          const int64_t x = x0 + q;
          const float wt = weights[e * ncols + x];
          for (int o = 0; o < OUT; ++o) {
            float term = pred[q][o] * wt;
            acc[o * ncols + x] = e == 0 ? term : acc[o * ncols + x] + term;
          }
        }
      }
    }
    // The output holds the bilinear LR skip: the blended prediction is added to it.
    for (int o = 0; o < OUT; ++o) {
      float* dst = b.out + o * b.out_channel + y * b.out_row;
      for (int64_t x = 0; x < ncols; ++x) dst[x] = acc[o * ncols + x] + dst[x];
    }
  }
}

}  // namespace

// One band, output rows 0..n-1 of a block, columns 0..ncols-1, on `threads` threads:
// mods (h * w, RECORD): the LR pixels' prepared records (w columns); rows (4, n) / cols
// (4, ncols): per ensemble member, the LR row (column) every output row (column) reads;
// rel_y (4, n) / rel_x (4, ncols): its offset in LR pixels; phase (HID / 2,); weight
// (DEPTH, HID, HID) transposed; out_w (OUT, HID); out_b (OUT,).
// out[o * out_channel + y * out_row + x] holds the bilinear LR skip on entry and the output
// pixel on return.
extern "C" void lmlte_decode_rows(const float* mods, int64_t w,
                                  const int64_t* rows, const int64_t* cols,
                                  const float* rel_y, const float* rel_x, int64_t n,
                                  int64_t ncols, const float* phase, const float* weight,
                                  const float* out_w, const float* out_b, float* out,
                                  int64_t out_channel, int64_t out_row, int64_t threads) {
  const Block b{{mods, phase, weight, out_w, out_b}, w, n, ncols, rows, cols, rel_y,
                rel_x, out, out_channel, out_row};
  // OpenMP: the runtime torch has loaded (libgomp.so.1) and so torch's own thread pool, whose
  // workers would otherwise spin beside threads of ours after every torch operation.
  const int64_t parts = std::max<int64_t>(1, std::min(threads, n));
#pragma omp parallel for num_threads(parts) schedule(static)
  for (int64_t i = 0; i < parts; ++i) decode(b, n * i / parts, n * (i + 1) / parts);
}

// The latent MLP's output of `count` LR pixels, (count, RECORD), turned in place into the
// decoder's records (see kRecord); bias (DEPTH, HID): the hidden layers' biases.
extern "C" void lmlte_prepare_records(float* mods, int64_t count, const float* bias,
                                      int64_t threads) {
  const float pi = 3.14159265358979323846f;
#pragma omp parallel for num_threads(std::max<int64_t>(1, threads)) schedule(static)
  for (int64_t i = 0; i < count; ++i) {
    float* rec = mods + i * kRecord;
    for (int l = 0; l < DEPTH; ++l)
      for (int c = 0; c < HID; ++c) {
        const float scale = rec[l * HID + c] + 1.0f;
        rec[l * HID + c] = scale;
        rec[kShift + l * HID + c] = rec[kShift + l * HID + c] + scale * bias[l * HID + c];
      }
    float freq[HID];
    std::memcpy(freq, rec + kFreq, sizeof freq);
    for (int a = 0; a < kHalf; ++a) {
      rec[kFreq + a] = freq[2 * a] * pi;
      rec[kFreq + kHalf + a] = freq[2 * a + 1] * pi;
    }
  }
}
