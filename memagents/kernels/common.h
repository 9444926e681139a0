/*
 * Helpers shared by the fused kernels: activations, softmax and content addressing, forward and
 * backward. build.py includes this file, then every kernel source, once with real = float and
 * names ending _f32 and once with real = double and _f64, into one library.
 */
#include <stdlib.h>
#include <string.h>
#include <tgmath.h> /* exp, log, sqrt, fabs follow the type of `real` */

#define EPSILON ((real)1e-6) /* memagents.addressing.EPSILON */

#ifndef COMMON_ONCE /* type-independent, once per library */
#define COMMON_ONCE
#include <stdint.h>
/* Threads over the batch. Built with OpenMP (build.py adds -fopenmp where the compiler has it),
 * each entry's batch loop runs on `threads` threads, the caller's count (torch's, and 1 for
 * small batches: memagents.kernels.build.threads_for), each sequence wholly on one thread: no
 * sum runs across the batch, so the results are the same bits whatever the count. threads <= 1
 * runs the same outlined loop on the calling thread alone (the `if` clause). Without OpenMP the
 * pragma is empty and the loop serial. PARALLEL_OVER_BATCH reads the local `threads`. */
#ifdef _OPENMP
#include <omp.h>
#define PARALLEL_OVER_BATCH \
    _Pragma("omp parallel for schedule(static) num_threads(threads) if (threads > 1)")
#define THREAD_INDEX omp_get_thread_num()
int memagents_openmp(void) { return _OPENMP; }
#else
#define PARALLEL_OVER_BATCH
#define THREAD_INDEX 0
int memagents_openmp(void) { return 0; }
#endif

/* The threads to use for B sequences: `threads`, at most B, at least 1. */
static int team_size(int threads, int B) {
    if (threads > B) threads = B;
    return threads > 1 ? threads : 1;
}

/* Scratch for `threads` threads, `each` bytes apiece, every thread's part 64-byte aligned (its
 * own cache lines, and the same alignment on every thread, so vectorized loops split the same
 * way). Returns the block to free (NULL: out of memory); *parts the first part, the part of
 * thread t at *parts + t * scratch_stride(each). */
static size_t scratch_stride(size_t each) { return (each + 63) / 64 * 64; }
static void *scratch_alloc(int threads, size_t each, char **parts) {
    char *block = malloc(scratch_stride(each) * (size_t)threads + 63);
    if (block) *parts = (char *)(((uintptr_t)block + 63) / 64 * 64);
    return block;
}
#endif

#if defined(__GLIBC__) && defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(MEMAGENTS_SIMD_MATH)
/* glibc's libmvec has vector exp and log; declaring them SIMD-callable lets gcc vectorize the
 * softmax and log loops (glibc declares this itself only under -ffast-math, which we avoid). */
#define MEMAGENTS_SIMD_MATH
__attribute__((__simd__("notinbranch"))) float(expf)(float);
__attribute__((__simd__("notinbranch"))) float(logf)(float);
__attribute__((__simd__("notinbranch"))) double(exp)(double);
__attribute__((__simd__("notinbranch"))) double(log)(double);
#endif

#define CAT_(a, b) a##_##b
#define CAT(a, b) CAT_(a, b)
#define NAME(n) CAT(n, SUFFIX)

/* Written so that no intermediate overflows, whatever x. */
static real NAME(sigmoid)(real x) {
    const real z = exp(-fabs(x));
    return (x >= 0 ? 1 : z) / (1 + z);
}
/* oneplus(x) = 1 + softplus(x); softplus as torch: x itself above 20 */
static real NAME(oneplus)(real x) { return 1 + (x > 20 ? x : log1p(exp(x > 20 ? 20 : x))); }
static real NAME(doneplus)(real x) { return x > 20 ? 1 : NAME(sigmoid)(x); }

static void NAME(softmax)(real *v, int n) {
    real top = v[0];
    for (int i = 1; i < n; i++) top = v[i] > top ? v[i] : top;
    real total = 0;
    for (int i = 0; i < n; i++) {
        v[i] = exp(v[i] - top);
        total += v[i];
    }
    const real scale = 1 / total;
    for (int i = 0; i < n; i++) v[i] *= scale;
}

/* gx = the gradient of softmax's input, from its output y and output gradient gy; may alias gy */
static void NAME(softmax_backward)(const real *y, const real *gy, real *gx, int n) {
    real inner = 0;
    for (int i = 0; i < n; i++) inner += y[i] * gy[i];
    for (int i = 0; i < n; i++) gx[i] = y[i] * (gy[i] - inner);
}

static void NAME(row_norms)(const real *M, int N, int W, real *norms) {
    for (int n = 0; n < N; n++) {
        real total = 0;
        for (int j = 0; j < W; j++) total += M[n * W + j] * M[n * W + j];
        norms[n] = sqrt(total);
    }
}

/* Content weights of one key over the N rows of M (N, W), norms the rows' norms:
 * similarity[n] = key . M[n] / ((|key| + eps)(|M[n]| + eps)), weights = softmax(strength *
 * similarity). Returns |key|. */
static real NAME(content_weighting)(const real *key, real strength, const real *M,
                                    const real *norms, int N, int W, real *similarity,
                                    real *weights) {
    real key_norm = 0;
    for (int j = 0; j < W; j++) key_norm += key[j] * key[j];
    key_norm = sqrt(key_norm);
    const real key_scale = 1 / (key_norm + EPSILON);
    for (int n = 0; n < N; n++) {
        const real *row = M + n * W;
        real dot = 0;
        for (int j = 0; j < W; j++) dot += key[j] * row[j];
        similarity[n] = dot * key_scale / (norms[n] + EPSILON);
        weights[n] = strength * similarity[n];
    }
    NAME(softmax)(weights, N);
    return key_norm;
}

/* Backward of `content_weighting` from the weights' gradient g_weights (N, overwritten): adds to
 * g_key (W), g_M (N, W) through the dot products and g_norm (N) for the rows' norms (see
 * norms_backward); returns the strength's gradient. */
static real NAME(content_weighting_backward)(const real *key, real key_norm, real strength,
                                             const real *M, const real *norms,
                                             const real *similarity, const real *weights,
                                             real *g_weights, int N, int W, real *g_key, real *g_M,
                                             real *g_norm) {
    real *g_similarity = g_weights, g_strength = 0;
    NAME(softmax_backward)(weights, g_weights, g_similarity, N);
    for (int n = 0; n < N; n++) {
        g_strength += g_similarity[n] * similarity[n];
        g_similarity[n] *= strength;
    }
    const real key_scale = 1 / (key_norm + EPSILON);
    real g_key_norm = 0;
    for (int n = 0; n < N; n++) {
        const real row_scale = 1 / (norms[n] + EPSILON);
        const real g_dot = g_similarity[n] * key_scale * row_scale;
        /* similarity = dot * key_scale * row_scale: d/d(norm) = -similarity / (norm + eps) */
        g_key_norm -= g_similarity[n] * similarity[n] * key_scale;
        g_norm[n] -= g_similarity[n] * similarity[n] * row_scale;
        const real *row = M + n * W;
        real *g_row = g_M + n * W;
        for (int j = 0; j < W; j++) {
            g_key[j] += g_dot * row[j];
            g_row[j] += g_dot * key[j];
        }
    }
    if (key_norm > 0) /* |key|'s gradient at 0 is taken as 0, as torch does */
        for (int j = 0; j < W; j++) g_key[j] += g_key_norm / key_norm * key[j];
    return g_strength;
}

/* g_M += the rows' norms' gradient g_norm (N) carried to M (N, W); 0 at a zero row, as torch. */
static void NAME(norms_backward)(const real *M, const real *norms, const real *g_norm, int N,
                                 int W, real *g_M) {
    for (int n = 0; n < N; n++) {
        if (norms[n] > 0) {
            const real scale = g_norm[n] / norms[n];
            for (int j = 0; j < W; j++) g_M[n * W + j] += scale * M[n * W + j];
        }
    }
}
