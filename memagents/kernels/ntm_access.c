/*
 * The NTM access step (Graves, Wayne & Danihelka 2014, section 3) fused into one forward and one
 * backward call on CPU: content addressing, interpolation, circular shift, sharpening, reading and
 * erase/add writing, with the interface activations (sigmoid, oneplus, shift softmax) included.
 *
 * The same maths as the torch-ops path of memagents.access.NTMAccess.forward, and tested against
 * it, values and gradients, in tests/test_kernels.py; the Python side is memagents/kernels/ntm.py.
 * Why C: at the paper's sizes (batch 16, 128 x 20 memory) an eager step is about 40 small torch
 * ops forward and twice as many backward, and their dispatch and autograd bookkeeping, not the
 * arithmetic, is the cost. Here a step is one call each way.
 *
 * Layout, row-major and contiguous, per batch element (legend of memagents.addressing):
 *   iface        (P)      raw interface output, K = R + H heads, S = 2 * shift_range + 1: the
 *                         fields keys (K, W), add (H, W), gates (K), erase (H, W), strengths (K),
 *                         gammas (K), shift logits (K, S) at the offsets given in `layout`
 *   memory       (N, W)   M_{t-1}
 *   prev_read    (R, N), prev_write (H, N)   the heads' weights at t-1
 *   reads        (R, W)   read vectors of M_{t-1}
 *   read_weights (R, N), write_weights (H, N)   the heads' weights at t
 *   new_memory   (N, W)   M_t
 *   saved        (ntm_access_saved_size)   the forward's intermediates, for the backward:
 *                         memory row norms N | erase H*W | per head: similarity N, content N,
 *                         gated N, shifted N, weights N, shift S, key norm, strength, gate, gamma
 *
 * Included by build.py after common.h (activations, softmax, content addressing).
 */
/* to[n] += scale * from[(n - offset) mod N], in two contiguous runs */
static void NAME(add_rolled)(real *to, const real *from, real scale, int offset, int N) {
    for (int n = 0; n < offset; n++) to[n] += scale * from[n - offset + N];
    for (int n = offset; n < N; n++) to[n] += scale * from[n - offset];
}

/* sum_n a[n] * b[(n - offset) mod N] */
static real NAME(dot_rolled)(const real *a, const real *b, int offset, int N) {
    real total = 0;
    for (int n = 0; n < offset; n++) total += a[n] * b[n - offset + N];
    for (int n = offset; n < N; n++) total += a[n] * b[n - offset];
    return total;
}

/* Indices into the `layout` argument: the offset of each interface field in a row of iface, then
 * the row's size P. Python builds it from memagents.kernels.layout.NTM_INTERFACE (the one place
 * where the fields' sizes, order and activations are declared); the names here are its names. */
#ifndef NTM_LAYOUT_ONCE /* type-independent, once per library */
#define NTM_LAYOUT_ONCE
enum { NTM_KEYS, NTM_ADD, NTM_GATES, NTM_ERASE, NTM_STRENGTHS, NTM_GAMMAS, NTM_SHIFTS, NTM_P };
#endif

typedef struct {
    int N, W, R, H, K, S, P, head_size, saved_size;
    int keys, add, gates, erase, strengths, gammas, shifts; /* offsets into iface */
} NAME(Dims);

static NAME(Dims) NAME(dims)(int N, int W, int R, int H, int S, const int *layout) {
    NAME(Dims) d;
    d.N = N, d.W = W, d.R = R, d.H = H, d.K = R + H, d.S = S;
    if (layout) {
        d.keys = layout[NTM_KEYS], d.add = layout[NTM_ADD], d.gates = layout[NTM_GATES];
        d.erase = layout[NTM_ERASE], d.strengths = layout[NTM_STRENGTHS];
        d.gammas = layout[NTM_GAMMAS], d.shifts = layout[NTM_SHIFTS], d.P = layout[NTM_P];
    }
    d.head_size = 5 * N + S + 4;
    d.saved_size = N + H * W + d.K * d.head_size;
    return d;
}

/* One head's intermediates, inside one batch element's saved buffer. */
typedef struct {
    real *similarity, *content, *gated, *shifted, *weights, *shift, *scalars;
} NAME(Head);

#ifndef NTM_ACCESS_ONCE /* type-independent parts, once per library */
#define NTM_ACCESS_ONCE
enum { KEY_NORM, STRENGTH, GATE, GAMMA };
#endif

static NAME(Head) NAME(head)(const NAME(Dims) * d, real *saved, int k) {
    NAME(Head) h;
    real *p = saved + d->N + d->H * d->W + k * d->head_size;
    h.similarity = p, h.content = p + d->N, h.gated = p + 2 * d->N, h.shifted = p + 3 * d->N;
    h.weights = p + 4 * d->N, h.shift = p + 5 * d->N, h.scalars = p + 5 * d->N + d->S;
    return h;
}

/* Addressing of head k: content, interpolation, shift, sharpening, into h. */
static void NAME(address)(const NAME(Dims) * d, int k, const real *x, const real *memory,
                          const real *memory_norm, const real *prev, NAME(Head) h) {
    const int N = d->N, W = d->W, S = d->S;
    const real strength = NAME(oneplus)(x[d->strengths + k]);
    const real gate = NAME(sigmoid)(x[d->gates + k]);
    const real gamma = NAME(oneplus)(x[d->gammas + k]);
    h.scalars[STRENGTH] = strength, h.scalars[GATE] = gate, h.scalars[GAMMA] = gamma;
    h.scalars[KEY_NORM] = NAME(content_weighting)(x + d->keys + k * W, strength, memory,
                                                  memory_norm, N, W, h.similarity, h.content);
    for (int n = 0; n < N; n++) h.gated[n] = prev[n] + gate * (h.content[n] - prev[n]);

    for (int s = 0; s < S; s++) h.shift[s] = x[d->shifts + k * S + s];
    NAME(softmax)(h.shift, S);
    memset(h.shifted, 0, sizeof(real) * N);
    for (int s = 0; s < S; s++) {
        const int offset = ((s - S / 2) % N + N) % N;
        NAME(add_rolled)(h.shifted, h.gated, h.shift[s], offset, N);
    }
    for (int n = 0; n < N; n++) h.weights[n] = gamma * log(h.shifted[n] + EPSILON);
    NAME(softmax)(h.weights, N);
}

/* Per batch element size of the `saved` buffer. */
int NAME(ntm_access_saved_size)(int N, int W, int R, int H, int S) {
    return NAME(dims)(N, W, R, H, S, NULL).saved_size;
}

void NAME(ntm_access_forward)(int B, int N, int W, int R, int H, int S, int threads,
                              const int *layout, const real *iface,
                              const real *memory, const real *prev_read, const real *prev_write,
                              real *reads, real *read_weights, real *write_weights,
                              real *new_memory, real *saved) {
    const NAME(Dims) d = NAME(dims)(N, W, R, H, S, layout);
    threads = team_size(threads, B);
    PARALLEL_OVER_BATCH
    for (int b = 0; b < B; b++) {
        const real *x = iface + (size_t)b * d.P, *M = memory + (size_t)b * N * W;
        real *out_memory = new_memory + (size_t)b * N * W, *save = saved + (size_t)b * d.saved_size;
        real *memory_norm = save, *erase = save + N;
        NAME(row_norms)(M, N, W, memory_norm);
        for (int k = 0; k < d.K; k++) {
            const real *prev = k < R ? prev_read + ((size_t)b * R + k) * N
                                     : prev_write + ((size_t)b * H + k - R) * N;
            real *out = k < R ? read_weights + ((size_t)b * R + k) * N
                              : write_weights + ((size_t)b * H + k - R) * N;
            NAME(Head) h = NAME(head)(&d, save, k);
            NAME(address)(&d, k, x, M, memory_norm, prev, h);
            memcpy(out, h.weights, sizeof(real) * N);
        }
        /* read M_{t-1} */
        for (int r = 0; r < R; r++) {
            const real *weights = NAME(head)(&d, save, r).weights;
            real *read = reads + ((size_t)b * R + r) * W;
            memset(read, 0, sizeof(real) * W);
            for (int n = 0; n < N; n++)
                for (int j = 0; j < W; j++) read[j] += weights[n] * M[n * W + j];
        }
        /* M_t = M_{t-1} * prod_h (1 - w_h e_h^T) + sum_h w_h a_h^T */
        for (int i = 0; i < H * W; i++) erase[i] = NAME(sigmoid)(x[d.erase + i]);
        memcpy(out_memory, M, sizeof(real) * N * W);
        for (int h = 0; h < H; h++) {
            const real *weights = NAME(head)(&d, save, R + h).weights;
            const real *e = erase + h * W;
            for (int n = 0; n < N; n++)
                for (int j = 0; j < W; j++) out_memory[n * W + j] *= 1 - weights[n] * e[j];
        }
        for (int h = 0; h < H; h++) {
            const real *weights = NAME(head)(&d, save, R + h).weights, *a = x + d.add + h * W;
            for (int n = 0; n < N; n++)
                for (int j = 0; j < W; j++) out_memory[n * W + j] += weights[n] * a[j];
        }
    }
}

/* Backward of the write for head h: gradients of its weights, erase (pre-sigmoid) and add. */
static void NAME(write_backward)(const NAME(Dims) * d, real *save, int h, const real *x,
                                 const real *restrict M, const real *restrict gM,
                                 real *restrict gw, real *restrict gx) {
    const int N = d->N, W = d->W, H = d->H, R = d->R;
    const real *erase = save + N, *restrict e = erase + h * W, *restrict a = x + d->add + h * W;
    const real *restrict weights = NAME(head)(d, save, R + h).weights;
    real *restrict ga = gx + d->add + h * W, *restrict ge = gx + d->erase + h * W;
    real erased[W]; /* one row of M_{t-1} times the other heads' erase factors */
    for (int n = 0; n < N; n++) {
        const real *restrict row = M + n * W, *restrict g_row = gM + n * W;
        memcpy(erased, row, sizeof(real) * W);
        for (int o = 0; o < H; o++) { /* without dividing by this head's factor, which may be 0 */
            if (o == h) continue;
            const real w_o = NAME(head)(d, save, R + o).weights[n], *e_o = erase + o * W;
            for (int j = 0; j < W; j++) erased[j] *= 1 - w_o * e_o[j];
        }
        const real weight = weights[n];
        real total = 0;
        for (int j = 0; j < W; j++) {
            total += g_row[j] * (a[j] - erased[j] * e[j]);
            ge[j] -= g_row[j] * erased[j] * weight;
            ga[j] += g_row[j] * weight;
        }
        gw[n] += total;
    }
    for (int j = 0; j < W; j++) ge[j] *= e[j] * (1 - e[j]);
}

/* Backward of head k's addressing, from the gradient of its weights gw (clobbered). */
static void NAME(address_backward)(const NAME(Dims) * d, real *save, int k, const real *x,
                                   const real *M, const real *prev, real *gw, real *gx,
                                   real *gMem, real *grad_norm, real *gprev, real *buffer) {
    const int N = d->N, W = d->W, S = d->S;
    const NAME(Head) h = NAME(head)(d, save, k);
    const real *memory_norm = save;
    const real key_norm = h.scalars[KEY_NORM], strength = h.scalars[STRENGTH];
    const real gate = h.scalars[GATE], gamma = h.scalars[GAMMA];
    real *g_shifted = gw, *g_gated = buffer, grad_shift[S];

    /* sharpening: weights = softmax(gamma * log(shifted + eps)) */
    real inner = 0, grad_gamma = 0;
    for (int n = 0; n < N; n++) inner += h.weights[n] * gw[n];
    for (int n = 0; n < N; n++) {
        const real g_logit = h.weights[n] * (gw[n] - inner);
        const real shifted = h.shifted[n] + EPSILON;
        grad_gamma += g_logit * log(shifted);
        g_shifted[n] = g_logit * gamma / shifted;
    }
    gx[d->gammas + k] = grad_gamma * NAME(doneplus)(x[d->gammas + k]);

    /* shift: shifted[n] = sum_s shift[s] gated[(n - (s - S/2)) mod N] */
    memset(g_gated, 0, sizeof(real) * N);
    for (int s = 0; s < S; s++) {
        const int offset = ((s - S / 2) % N + N) % N;
        grad_shift[s] = NAME(dot_rolled)(g_shifted, h.gated, offset, N);
        NAME(add_rolled)(g_gated, g_shifted, h.shift[s], (N - offset) % N, N);
    }
    inner = 0;
    for (int s = 0; s < S; s++) inner += h.shift[s] * grad_shift[s];
    for (int s = 0; s < S; s++) gx[d->shifts + k * S + s] = h.shift[s] * (grad_shift[s] - inner);

    /* interpolation: gated = prev + gate (content - prev) */
    real grad_gate = 0, *g_content = g_gated;
    for (int n = 0; n < N; n++) {
        grad_gate += g_gated[n] * (h.content[n] - prev[n]);
        gprev[n] = (1 - gate) * g_gated[n];
        g_content[n] = gate * g_gated[n];
    }
    gx[d->gates + k] = grad_gate * gate * (1 - gate);

    /* content */
    const real grad_strength = NAME(content_weighting_backward)(
        x + d->keys + k * W, key_norm, strength, M, memory_norm, h.similarity, h.content,
        g_content, N, W, gx + d->keys + k * W, gMem, grad_norm);
    gx[d->strengths + k] = grad_strength * NAME(doneplus)(x[d->strengths + k]);
}

int NAME(ntm_access_backward)(int B, int N, int W, int R, int H, int S, int threads,
                              const int *layout, const real *iface,
                              const real *memory, const real *prev_read, const real *prev_write,
                              real *saved, const real *grad_reads, const real *grad_read_weights,
                              const real *grad_write_weights, const real *grad_new_memory,
                              real *grad_iface, real *grad_memory, real *grad_prev_read,
                              real *grad_prev_write) {
    const NAME(Dims) d = NAME(dims)(N, W, R, H, S, layout);
    threads = team_size(threads, B);
    /* per thread: the heads' weights' gradients (K, N), the norms' gradient and a buffer (N) */
    const size_t each = sizeof(real) * ((size_t)d.K * N + 2 * (size_t)N);
    char *parts;
    void *work = scratch_alloc(threads, each, &parts);
    if (!work) return 1;

    PARALLEL_OVER_BATCH
    for (int b = 0; b < B; b++) {
        real *grad_weights = (real *)(parts + THREAD_INDEX * scratch_stride(each));
        real *grad_norm = grad_weights + (size_t)d.K * N, *buffer = grad_norm + N;
        const real *x = iface + (size_t)b * d.P, *M = memory + (size_t)b * N * W;
        const real *gM = grad_new_memory + (size_t)b * N * W;
        real *save = saved + (size_t)b * d.saved_size, *erase = save + N;
        real *gx = grad_iface + (size_t)b * d.P, *gMem = grad_memory + (size_t)b * N * W;
        memset(gx, 0, sizeof(real) * d.P);
        memcpy(grad_weights, grad_read_weights + (size_t)b * R * N, sizeof(real) * R * N);
        memcpy(grad_weights + R * N, grad_write_weights + (size_t)b * H * N, sizeof(real) * H * N);

        /* write: the memory's gradient through the erase factors */
        memcpy(gMem, gM, sizeof(real) * N * W);
        for (int h = 0; h < H; h++) {
            const real *weights = NAME(head)(&d, save, R + h).weights, *e = erase + h * W;
            for (int n = 0; n < N; n++)
                for (int j = 0; j < W; j++) gMem[n * W + j] *= 1 - weights[n] * e[j];
        }
        for (int h = 0; h < H; h++)
            NAME(write_backward)(&d, save, h, x, M, gM, grad_weights + (R + h) * N, gx);
        /* read */
        for (int r = 0; r < R; r++) {
            const real *gr = grad_reads + ((size_t)b * R + r) * W;
            const real *weights = NAME(head)(&d, save, r).weights;
            real *gw = grad_weights + r * N;
            for (int n = 0; n < N; n++) {
                real total = 0;
                for (int j = 0; j < W; j++) {
                    total += gr[j] * M[n * W + j];
                    gMem[n * W + j] += gr[j] * weights[n];
                }
                gw[n] += total;
            }
        }
        /* addressing, head by head */
        memset(grad_norm, 0, sizeof(real) * N);
        for (int k = 0; k < d.K; k++) {
            const real *prev = k < R ? prev_read + ((size_t)b * R + k) * N
                                     : prev_write + ((size_t)b * H + k - R) * N;
            real *gprev = k < R ? grad_prev_read + ((size_t)b * R + k) * N
                                : grad_prev_write + ((size_t)b * H + k - R) * N;
            NAME(address_backward)(&d, save, k, x, M, prev, grad_weights + k * N, gx, gMem,
                                   grad_norm, gprev, buffer);
        }
        NAME(norms_backward)(M, save, grad_norm, N, W, gMem);
    }
    free(work);
    return 0;
}
