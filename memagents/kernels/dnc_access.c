/*
 * The DNC access step (Graves et al. 2016, Methods) with one write head, fused into one forward
 * and one backward call on CPU: usage and retention, content and allocation write weights,
 * erase/add writing, temporal link and precedence, read weights from content and the links' two
 * directions, reading, with the interface activations (sigmoid, oneplus, mode softmax) included.
 *
 * The same maths, in the same order, as the torch-ops path of memagents.access.DNCAccess.forward
 * with stop_usage_gradient (usage is not differentiated through the previous write weights), and
 * tested against it, values and gradients, in tests/test_kernels.py; the Python side is
 * memagents/kernels/dnc.py. Included by build.py after common.h.
 *
 * Layout, row-major and contiguous, per batch element (legend of memagents.addressing, H = 1):
 *   iface  (P)  the fields keys (R+1, W: read keys, then the write key), write vectors (W),
 *               erase (W), free gates (R), allocation gates (1), write gates (1), strengths
 *               (R+1: reads, then the write), read-mode logits (R, 3: backward, forward,
 *               content), at the offsets given in `layout`
 *   state at t-1 (inputs) and at t (outputs): memory (N, W), read weights (R, N), write weights
 *               (N), usage (N), link (N, N), precedence (N); reads (R, W) of M_t (output)
 *   saved  (dnc_access_saved_size)  the forward's intermediates, for the backward
 */

/* Indices into the `layout` argument: the offset of each interface field in a row of iface, then
 * the row's size P. Python builds it from memagents.kernels.layout.DNC_INTERFACE (the one place
 * where the fields' sizes, order and activations are declared); the names here are its names. */
#ifndef DNC_LAYOUT_ONCE /* type-independent, once per library */
#define DNC_LAYOUT_ONCE
enum {
    DNC_KEYS, DNC_WRITE_VECTORS, DNC_ERASE, DNC_FREE_GATES, DNC_ALLOCATION_GATES, DNC_WRITE_GATES,
    DNC_STRENGTHS, DNC_READ_MODES, DNC_P
};
#endif

typedef struct {
    int N, W, R, P;
    /* offsets into iface */
    int keys, write_vector, erase, free_gates, allocation_gate, write_gate, strengths, modes;
    /* offsets into saved */
    int norm_prev, norm_new, write_similarity, write_content, usage_written, retention;
    int sorted, order, prefix, allocation, mixed, read_similarity, read_content, forward,
        backward, mode, key_norm, strength, activations, saved_size;
} NAME(DNCDims);

static NAME(DNCDims) NAME(dnc_dims)(int N, int W, int R, const int *layout) {
    NAME(DNCDims) d;
    d.N = N, d.W = W, d.R = R;
    if (layout) {
        d.keys = layout[DNC_KEYS], d.write_vector = layout[DNC_WRITE_VECTORS];
        d.erase = layout[DNC_ERASE], d.free_gates = layout[DNC_FREE_GATES];
        d.allocation_gate = layout[DNC_ALLOCATION_GATES], d.write_gate = layout[DNC_WRITE_GATES];
        d.strengths = layout[DNC_STRENGTHS], d.modes = layout[DNC_READ_MODES], d.P = layout[DNC_P];
    }
    int at = 0;
    d.norm_prev = at, at += N;
    d.norm_new = at, at += N;
    d.write_similarity = at, at += N;
    d.write_content = at, at += N;
    d.usage_written = at, at += N; /* usage after the previous write, before retention */
    d.retention = at, at += N;
    d.sorted = at, at += N;        /* usage (in [eps, 1]) in ascending order */
    d.order = at, at += N;         /* slot of each sorted entry, as a real */
    d.prefix = at, at += N;        /* exclusive cumulative product of the sorted usage */
    d.allocation = at, at += N;
    d.mixed = at, at += N;         /* content/allocation mix before the write gate */
    d.read_similarity = at, at += R * N;
    d.read_content = at, at += R * N;
    d.forward = at, at += R * N;
    d.backward = at, at += R * N;
    d.mode = at, at += 3 * R;
    d.key_norm = at, at += R + 1;
    d.strength = at, at += R + 1;
    d.activations = at, at += W + R + 2; /* erase W, free gates R, allocation gate, write gate */
    d.saved_size = at;
    return d;
}

int NAME(dnc_access_saved_size)(int N, int W, int R) {
    return NAME(dnc_dims)(N, W, R, NULL).saved_size;
}

void NAME(dnc_access_forward)(int B, int N, int W, int R, int threads, const int *layout,
                              const real *iface, const real *memory, const real *prev_read,
                              const real *prev_write, const real *prev_usage,
                              const real *prev_link, const real *prev_precedence, real *reads,
                              real *read_weights, real *write_weights, real *usage_out,
                              real *link, real *precedence, real *new_memory, real *saved) {
    const NAME(DNCDims) d = NAME(dnc_dims)(N, W, R, layout);
    threads = team_size(threads, B);
    PARALLEL_OVER_BATCH
    for (int b = 0; b < B; b++) {
        const real *x = iface + (size_t)b * d.P, *memory_prev = memory + (size_t)b * N * W;
        const real *prev_read_b = prev_read + (size_t)b * R * N,
                   *prev_write_b = prev_write + (size_t)b * N;
        const real *prev_usage_b = prev_usage + (size_t)b * N,
                   *prev_link_b = prev_link + (size_t)b * N * N;
        const real *prev_precedence_b = prev_precedence + (size_t)b * N;
        real *s = saved + (size_t)b * d.saved_size, *memory_new = new_memory + (size_t)b * N * W;
        real *read_weights_b = read_weights + (size_t)b * R * N,
             *write_weights_b = write_weights + (size_t)b * N;
        real *link_b = link + (size_t)b * N * N, *precedence_b = precedence + (size_t)b * N;
        real *act = s + d.activations, *erase = act, *free_gates = act + W;
        for (int j = 0; j < W; j++) erase[j] = NAME(sigmoid)(x[d.erase + j]);
        for (int r = 0; r < R; r++) free_gates[r] = NAME(sigmoid)(x[d.free_gates + r]);
        act[W + R] = NAME(sigmoid)(x[d.allocation_gate]);
        act[W + R + 1] = NAME(sigmoid)(x[d.write_gate]);
        const real allocation_gate = act[W + R], write_gate = act[W + R + 1];
        for (int k = 0; k <= R; k++) s[d.strength + k] = NAME(oneplus)(x[d.strengths + k]);

        /* usage: (u + w - u w) * prod_r (1 - f_r w_r), from the previous weights */
        real *usage = usage_out + (size_t)b * N;
        for (int n = 0; n < N; n++) {
            real retention = 1;
            for (int r = 0; r < R; r++) retention *= 1 - free_gates[r] * prev_read_b[r * N + n];
            s[d.usage_written + n] =
                prev_usage_b[n] + prev_write_b[n] - prev_usage_b[n] * prev_write_b[n];
            s[d.retention + n] = retention;
            usage[n] = s[d.usage_written + n] * retention;
        }

        /* write weights: content on M_{t-1} mixed with allocation */
        NAME(row_norms)(memory_prev, N, W, s + d.norm_prev);
        s[d.key_norm + R] = NAME(content_weighting)(x + d.keys + R * W, s[d.strength + R],
                                                    memory_prev, s + d.norm_prev, N, W,
                                                    s + d.write_similarity, s + d.write_content);
        /* allocation: stable ascending sort of usage in [eps, 1] (insertion sort, small N) */
        real *sorted = s + d.sorted, *order = s + d.order, *prefix = s + d.prefix;
        for (int n = 0; n < N; n++) {
            const real value = usage[n] * (1 - EPSILON) + EPSILON;
            int at = n;
            while (at > 0 && sorted[at - 1] > value) {
                sorted[at] = sorted[at - 1], order[at] = order[at - 1];
                at--;
            }
            sorted[at] = value, order[at] = (real)n;
        }
        real product = 1;
        for (int i = 0; i < N; i++) {
            prefix[i] = product;
            s[d.allocation + (int)order[i]] = (1 - sorted[i]) * product;
            product *= sorted[i];
        }
        for (int n = 0; n < N; n++) {
            const real content = s[d.write_content + n];
            s[d.mixed + n] = content + allocation_gate * (s[d.allocation + n] - content);
            write_weights_b[n] = write_gate * s[d.mixed + n];
        }

        /* erase and write: M_t = M_{t-1} + w (v - M_{t-1} e) */
        const real *v = x + d.write_vector;
        for (int n = 0; n < N; n++)
            for (int j = 0; j < W; j++)
                memory_new[n * W + j] =
                    memory_prev[n * W + j] +
                    write_weights_b[n] * (v[j] - memory_prev[n * W + j] * erase[j]);

        /* link L[i][j] = (1 - w_i - w_j) L_p[i][j] + w_i p_p[j], zero diagonal; precedence */
        real written = 0;
        for (int i = 0; i < N; i++) {
            for (int j = 0; j < N; j++)
                link_b[i * N + j] =
                    (1 - write_weights_b[i] - write_weights_b[j]) * prev_link_b[i * N + j] +
                    write_weights_b[i] * prev_precedence_b[j];
            link_b[i * N + i] = 0;
            written += write_weights_b[i];
        }
        for (int n = 0; n < N; n++)
            precedence_b[n] = (1 - written) * prev_precedence_b[n] + write_weights_b[n];

        /* read weights: content on M_t, forward L w_r, backward L^T w_r, mixed by the modes */
        NAME(row_norms)(memory_new, N, W, s + d.norm_new);
        for (int r = 0; r < R; r++) {
            real *content = s + d.read_content + r * N, *mode = s + d.mode + 3 * r;
            real *forward = s + d.forward + r * N, *backward = s + d.backward + r * N;
            s[d.key_norm + r] = NAME(content_weighting)(x + d.keys + r * W, s[d.strength + r],
                                                        memory_new, s + d.norm_new, N, W,
                                                        s + d.read_similarity + r * N, content);
            /* row by row, so both loops run along rows of L (contiguous, vectorized) */
            const real *restrict w = prev_read_b + r * N;
            real *restrict f = forward, *restrict bw = backward;
            for (int j = 0; j < N; j++) bw[j] = 0;
            for (int i = 0; i < N; i++) {
                const real *restrict row = link_b + i * N;
                real total = 0;
                for (int j = 0; j < N; j++) {
                    total += row[j] * w[j];
                    bw[j] += row[j] * w[i];
                }
                f[i] = total;
            }
            for (int m = 0; m < 3; m++) mode[m] = x[d.modes + 3 * r + m];
            NAME(softmax)(mode, 3);
            real *weights = read_weights_b + r * N, *read = reads + ((size_t)b * R + r) * W;
            for (int n = 0; n < N; n++)
                weights[n] = mode[0] * backward[n] + mode[1] * forward[n] + mode[2] * content[n];
            memset(read, 0, sizeof(real) * W);
            for (int n = 0; n < N; n++)
                for (int j = 0; j < W; j++) read[j] += weights[n] * memory_new[n * W + j];
        }
    }
}

/* The backward, in stages that mirror memagents.addressing: each `<name>_backward` takes the
 * gradient of the outputs of addressing.<name> and adds (+=) or writes (=, where it says so) the
 * gradients of its inputs. One batch element, one write head. */

/* read_memory: reads (R, W) = read_weights (R, N) M (N, W) */
static void NAME(read_memory_backward)(const real *M, const real *read_weights,
                                       const real *g_reads, int N, int W, int R, real *g_M,
                                       real *g_read_weights) {
    for (int r = 0; r < R; r++) {
        const real *g_read = g_reads + r * W, *weights = read_weights + r * N;
        for (int n = 0; n < N; n++) {
            real total = 0;
            for (int j = 0; j < W; j++) {
                total += g_read[j] * M[n * W + j];
                g_M[n * W + j] += g_read[j] * weights[n];
            }
            g_read_weights[r * N + n] += total;
        }
    }
}

/* read_mode_weighting, one read head: weights = mode[0] backward + mode[1] forward + mode[2]
 * content. g_weights (N) comes in as the read weights' gradient and leaves as the content weights';
 * g_forward and g_backward (N) are written; the mode logits' gradient (3) is written. */
static void NAME(read_mode_weighting_backward)(const real *mode, const real *content,
                                               const real *forward, const real *backward,
                                               real *g_weights, int N, real *g_forward,
                                               real *g_backward, real *g_mode_logits) {
    real g_mode[3] = {0, 0, 0};
    for (int n = 0; n < N; n++) {
        g_mode[0] += g_weights[n] * backward[n];
        g_mode[1] += g_weights[n] * forward[n];
        g_mode[2] += g_weights[n] * content[n];
    }
    NAME(softmax_backward)(mode, g_mode, g_mode_logits, 3);
    for (int n = 0; n < N; n++) {
        g_forward[n] = mode[1] * g_weights[n];
        g_backward[n] = mode[0] * g_weights[n];
        g_weights[n] *= mode[2];
    }
}

/* directional_read_weights, one read head, both directions: forward[i] = sum_j L[i][j] w[j],
 * backward[j] = sum_i L[i][j] w[i]; row by row, so every loop runs along rows of L (vectorized):
 * g_L[i][j] += g_f[i] w[j] + w[i] g_b[j]; g_w[j] += g_f[i] L[i][j]; g_w[i] += L[i] . g_b */
static void NAME(directional_read_weights_backward)(const real *restrict L,
                                                    const real *restrict w,
                                                    const real *restrict g_forward,
                                                    const real *restrict g_backward, int N,
                                                    real *restrict g_L, real *restrict g_w) {
    for (int i = 0; i < N; i++) {
        const real *restrict row = L + i * N;
        real *restrict g_row = g_L + i * N;
        const real g_forward_i = g_forward[i], w_i = w[i];
        real total = 0;
        for (int j = 0; j < N; j++) {
            g_row[j] += g_forward_i * w[j] + w_i * g_backward[j];
            g_w[j] += g_forward_i * row[j];
            total += row[j] * g_backward[j];
        }
        g_w[i] += total;
    }
}

/* update_precedence: p = (1 - sum w) p_prev + w. Writes g_prev_precedence. */
static void NAME(update_precedence_backward)(const real *write_weights,
                                             const real *prev_precedence,
                                             const real *g_precedence, int N,
                                             real *g_write_weights, real *g_prev_precedence) {
    real written = 0, g_written = 0;
    for (int n = 0; n < N; n++) {
        written += write_weights[n];
        g_written -= g_precedence[n] * prev_precedence[n];
    }
    for (int n = 0; n < N; n++) {
        g_prev_precedence[n] = (1 - written) * g_precedence[n];
        g_write_weights[n] += g_precedence[n] + g_written;
    }
}

/* update_link: L[i][j] = (1 - w[i] - w[j]) L_prev[i][j] + w[i] p_prev[j], zero diagonal.
 * g_link's diagonal is zeroed here (the diagonal is a constant); writes g_prev_link;
 * g_columns (N) is scratch for the w[j] terms, summed apart so the loop runs along rows. */
static void NAME(update_link_backward)(const real *prev_link, const real *prev_precedence,
                                       const real *write_weights, real *g_link, int N,
                                       real *g_prev_link, real *g_write_weights,
                                       real *g_prev_precedence, real *restrict g_columns) {
    for (int i = 0; i < N; i++) g_link[i * N + i] = 0;
    memset(g_columns, 0, sizeof(real) * N);
    for (int i = 0; i < N; i++) {
        const real *restrict g_row = g_link + i * N, *restrict prev_row = prev_link + i * N;
        real *restrict g_prev_row = g_prev_link + i * N;
        const real w_i = write_weights[i];
        real total = 0;
        for (int j = 0; j < N; j++) {
            const real g = g_row[j];
            g_prev_row[j] = g * (1 - w_i - write_weights[j]);
            total += g * (prev_precedence[j] - prev_row[j]);
            g_columns[j] -= g * prev_row[j];
            g_prev_precedence[j] += g * w_i;
        }
        g_write_weights[i] += total;
    }
    for (int j = 0; j < N; j++) g_write_weights[j] += g_columns[j];
}

/* erase_and_write, one head: M = M_prev + w (v - M_prev e). Writes g_prev_memory; g_erase gets
 * the gradient of the erase logits (through the sigmoid), g_write_vector that of v. */
static void NAME(erase_and_write_backward)(const real *prev_memory, const real *write_weights,
                                           const real *erase, const real *write_vector,
                                           const real *g_memory, int N, int W,
                                           real *g_prev_memory, real *g_write_weights,
                                           real *g_erase, real *g_write_vector) {
    for (int n = 0; n < N; n++) {
        real total = 0;
        const real w = write_weights[n];
        for (int j = 0; j < W; j++) {
            const real g = g_memory[n * W + j], old = prev_memory[n * W + j];
            g_prev_memory[n * W + j] = g * (1 - w * erase[j]);
            total += g * (write_vector[j] - old * erase[j]);
            g_erase[j] -= g * old * w;
            g_write_vector[j] += g * w;
        }
        g_write_weights[n] += total;
    }
    for (int j = 0; j < W; j++) g_erase[j] *= erase[j] * (1 - erase[j]);
}

/* write_weighting, one head: w = g_w (c + g_a (a - c)), mixed = c + g_a (a - c). g_weights (N)
 * comes in as the write weights' gradient and leaves as the content weights'; writes
 * g_allocation (N); returns the gates' gradients (after their sigmoids) in g_gates[0]
 * (allocation gate) and g_gates[1] (write gate). */
static void NAME(write_weighting_backward)(const real *content, const real *allocation,
                                           const real *mixed, real allocation_gate,
                                           real write_gate, real *g_weights, int N,
                                           real *g_allocation, real g_gates[2]) {
    real g_write_gate = 0, g_allocation_gate = 0;
    for (int n = 0; n < N; n++) {
        const real g_mixed = write_gate * g_weights[n];
        g_write_gate += g_weights[n] * mixed[n];
        g_allocation_gate += g_mixed * (allocation[n] - content[n]);
        g_allocation[n] = allocation_gate * g_mixed;
        g_weights[n] = (1 - allocation_gate) * g_mixed;
    }
    g_gates[0] = g_allocation_gate, g_gates[1] = g_write_gate;
}

/* allocation_weighting: a[order[i]] = (1 - sorted[i]) prefix[i], prefix the exclusive cumulative
 * product of the sorted usage, sorted = u (1 - eps) + eps. g_allocation is by slot; adds to
 * g_usage; by_rank (N) is scratch. */
static void NAME(allocation_weighting_backward)(const real *sorted, const real *order,
                                                const real *prefix, const real *g_allocation,
                                                int N, real *g_usage, real *by_rank) {
    for (int i = 0; i < N; i++) by_rank[i] = g_allocation[(int)order[i]];
    for (int i = 0; i < N; i++) {
        real total = -by_rank[i] * prefix[i], running = prefix[i];
        for (int m = i + 1; m < N; m++) {
            total += by_rank[m] * (1 - sorted[m]) * running;
            running *= sorted[m];
        }
        g_usage[(int)order[i]] += total * (1 - EPSILON);
    }
}

/* update_usage: u = (u_prev + w - u_prev w) prod_r (1 - f_r w_r), with no gradient to the
 * previous write weights w (stop_usage_gradient). Writes g_prev_usage; adds to g_prev_read;
 * g_free_gates (R) gets the gradient of the free-gate logits (through the sigmoid). */
static void NAME(update_usage_backward)(const real *usage_written, const real *retention,
                                        const real *prev_write, const real *prev_read,
                                        const real *free_gates, const real *g_usage, int N,
                                        int R, real *g_prev_usage, real *g_prev_read,
                                        real *g_free_gates) {
    for (int n = 0; n < N; n++) {
        const real g_retention = g_usage[n] * usage_written[n];
        g_prev_usage[n] = g_usage[n] * retention[n] * (1 - prev_write[n]);
        for (int r = 0; r < R; r++) {
            real others = 1; /* the other heads' factors: never divide by this one, it may be 0 */
            for (int o = 0; o < R; o++)
                if (o != r) others *= 1 - free_gates[o] * prev_read[o * N + n];
            g_free_gates[r] -= g_retention * prev_read[r * N + n] * others;
            g_prev_read[r * N + n] -= g_retention * free_gates[r] * others;
        }
    }
    for (int r = 0; r < R; r++) g_free_gates[r] *= free_gates[r] * (1 - free_gates[r]);
}

int NAME(dnc_access_backward)(int B, int N, int W, int R, int threads, const int *layout,
                              const real *iface, const real *memory, const real *prev_read,
                              const real *prev_write, const real *prev_link,
                              const real *prev_precedence, const real *read_weights,
                              const real *write_weights, const real *link,
                              const real *new_memory, real *saved,
                              const real *grad_reads, const real *grad_read_weights,
                              const real *grad_write_weights, const real *grad_usage,
                              const real *grad_link, const real *grad_precedence,
                              const real *grad_new_memory, real *grad_iface, real *grad_memory,
                              real *grad_prev_read, real *grad_prev_usage,
                              real *grad_prev_link, real *grad_prev_precedence) {
    const NAME(DNCDims) d = NAME(dnc_dims)(N, W, R, layout);
    threads = team_size(threads, B);
    /* Per thread, for the batch element at hand: the gradients of the step's values at t,
     * accumulated stage by stage: memory (N, W), read weights (R, N), link (N, N), write
     * weights, usage (N each); and scratch: row norms, forward and backward weights,
     * allocation, one more (N each). */
    const size_t each = sizeof(real) * ((size_t)N * W + (size_t)R * N + (size_t)N * N + 8 * N);
    char *parts;
    void *work = scratch_alloc(threads, each, &parts);
    if (!work) return 1;

    PARALLEL_OVER_BATCH
    for (int b = 0; b < B; b++) {
        real *g_memory = (real *)(parts + THREAD_INDEX * scratch_stride(each));
        real *g_read_weights = g_memory + N * W, *g_link = g_read_weights + R * N;
        real *g_write_weights = g_link + N * N, *g_usage = g_write_weights + N;
        real *g_norm = g_usage + N, *g_forward = g_norm + N, *g_backward = g_forward + N;
        real *g_allocation = g_backward + N, *scratch = g_allocation + N;
        const real *x = iface + (size_t)b * d.P, *s = saved + (size_t)b * d.saved_size;
        const real *memory_prev = memory + (size_t)b * N * W;
        const real *memory_new = new_memory + (size_t)b * N * W;
        const real *prev_read_b = prev_read + (size_t)b * R * N;
        const real *prev_write_b = prev_write + (size_t)b * N;
        const real *prev_link_b = prev_link + (size_t)b * N * N;
        const real *prev_precedence_b = prev_precedence + (size_t)b * N;
        const real *read_weights_b = read_weights + (size_t)b * R * N;
        const real *write_weights_b = write_weights + (size_t)b * N;
        const real *link_b = link + (size_t)b * N * N;
        const real *erase = s + d.activations, *free_gates = erase + W;
        const real allocation_gate = erase[W + R], write_gate = erase[W + R + 1];
        real *gx = grad_iface + (size_t)b * d.P;
        real *g_prev_memory = grad_memory + (size_t)b * N * W;
        real *g_prev_read = grad_prev_read + (size_t)b * R * N;
        real *g_prev_usage = grad_prev_usage + (size_t)b * N;
        real *g_prev_link = grad_prev_link + (size_t)b * N * N;
        real *g_prev_precedence = grad_prev_precedence + (size_t)b * N;
        memset(gx, 0, sizeof(real) * d.P);
        memset(g_prev_read, 0, sizeof(real) * R * N);
        memcpy(g_memory, grad_new_memory + (size_t)b * N * W, sizeof(real) * N * W);
        memcpy(g_read_weights, grad_read_weights + (size_t)b * R * N, sizeof(real) * R * N);
        memcpy(g_link, grad_link + (size_t)b * N * N, sizeof(real) * N * N);
        memcpy(g_write_weights, grad_write_weights + (size_t)b * N, sizeof(real) * N);
        memcpy(g_usage, grad_usage + (size_t)b * N, sizeof(real) * N);

        /* read: read_memory, then per head read_mode_weighting, directional_read_weights and
         * content_weighting on M_t */
        NAME(read_memory_backward)(memory_new, read_weights_b, grad_reads + (size_t)b * R * W, N,
                                   W, R, g_memory, g_read_weights);
        memset(g_norm, 0, sizeof(real) * N);
        for (int r = 0; r < R; r++) {
            real *g_weights = g_read_weights + r * N;
            NAME(read_mode_weighting_backward)(
                s + d.mode + 3 * r, s + d.read_content + r * N, s + d.forward + r * N,
                s + d.backward + r * N, g_weights, N, g_forward, g_backward, gx + d.modes + 3 * r);
            NAME(directional_read_weights_backward)(link_b, prev_read_b + r * N, g_forward,
                                                    g_backward, N, g_link, g_prev_read + r * N);
            const real g_strength = NAME(content_weighting_backward)(
                x + d.keys + r * W, s[d.key_norm + r], s[d.strength + r], memory_new,
                s + d.norm_new, s + d.read_similarity + r * N, s + d.read_content + r * N,
                g_weights, N, W, gx + d.keys + r * W, g_memory, g_norm);
            gx[d.strengths + r] = g_strength * NAME(doneplus)(x[d.strengths + r]);
        }
        NAME(norms_backward)(memory_new, s + d.norm_new, g_norm, N, W, g_memory);

        /* temporal links */
        NAME(update_precedence_backward)(write_weights_b, prev_precedence_b,
                                         grad_precedence + (size_t)b * N, N, g_write_weights,
                                         g_prev_precedence);
        NAME(update_link_backward)(prev_link_b, prev_precedence_b, write_weights_b, g_link, N,
                                   g_prev_link, g_write_weights, g_prev_precedence, scratch);

        /* write: erase_and_write, write_weighting, allocation_weighting, content_weighting on
         * M_{t-1} */
        NAME(erase_and_write_backward)(memory_prev, write_weights_b, erase, x + d.write_vector,
                                       g_memory, N, W, g_prev_memory, g_write_weights,
                                       gx + d.erase, gx + d.write_vector);
        real g_gates[2];
        NAME(write_weighting_backward)(s + d.write_content, s + d.allocation, s + d.mixed,
                                       allocation_gate, write_gate, g_write_weights, N,
                                       g_allocation, g_gates);
        gx[d.allocation_gate] = g_gates[0] * allocation_gate * (1 - allocation_gate);
        gx[d.write_gate] = g_gates[1] * write_gate * (1 - write_gate);
        NAME(allocation_weighting_backward)(s + d.sorted, s + d.order, s + d.prefix, g_allocation,
                                            N, g_usage, scratch);
        memset(g_norm, 0, sizeof(real) * N);
        const real g_strength = NAME(content_weighting_backward)(
            x + d.keys + R * W, s[d.key_norm + R], s[d.strength + R], memory_prev,
            s + d.norm_prev, s + d.write_similarity, s + d.write_content, g_write_weights, N, W,
            gx + d.keys + R * W, g_prev_memory, g_norm);
        gx[d.strengths + R] = g_strength * NAME(doneplus)(x[d.strengths + R]);
        NAME(norms_backward)(memory_prev, s + d.norm_prev, g_norm, N, W, g_prev_memory);

        /* usage */
        NAME(update_usage_backward)(s + d.usage_written, s + d.retention, prev_write_b,
                                    prev_read_b, free_gates, g_usage, N, R, g_prev_usage,
                                    g_prev_read, gx + d.free_gates);
    }
    free(work);
    return 0;
}
