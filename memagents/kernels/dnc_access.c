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
 *   iface  (P)  read keys R*W | write key W | write vector W | erase W | free gates R
 *               | allocation gate | write gate | strengths R+1 (reads, then the write)
 *               | read-mode logits R*3 (backward, forward, content)
 *   state at t-1 (inputs) and at t (outputs): memory (N, W), read weights (R, N), write weights
 *               (N), usage (N), link (N, N), precedence (N); reads (R, W) of M_t (output)
 *   saved  (dnc_access_saved_size)  the forward's intermediates, for the backward
 */

typedef struct {
    int N, W, R, P;
    /* offsets into iface */
    int keys, write_vector, erase, free_gates, allocation_gate, write_gate, strengths, modes;
    /* offsets into saved */
    int norm_prev, norm_new, write_similarity, write_content, usage_written, retention;
    int sorted, order, prefix, allocation, mixed, read_similarity, read_content, forward,
        backward, mode, key_norm, strength, activations, saved_size;
} NAME(DNCDims);

static NAME(DNCDims) NAME(dnc_dims)(int N, int W, int R) {
    NAME(DNCDims) d;
    d.N = N, d.W = W, d.R = R;
    d.keys = 0;
    d.write_vector = (R + 1) * W;
    d.erase = d.write_vector + W;
    d.free_gates = d.erase + W;
    d.allocation_gate = d.free_gates + R;
    d.write_gate = d.allocation_gate + 1;
    d.strengths = d.write_gate + 1;
    d.modes = d.strengths + R + 1;
    d.P = d.modes + 3 * R;
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

int NAME(dnc_access_saved_size)(int N, int W, int R) { return NAME(dnc_dims)(N, W, R).saved_size; }

void NAME(dnc_access_forward)(int B, int N, int W, int R, const real *iface, const real *memory,
                              const real *prev_read, const real *prev_write,
                              const real *prev_usage, const real *prev_link,
                              const real *prev_precedence, real *reads, real *read_weights,
                              real *write_weights, real *usage_out, real *link,
                              real *precedence, real *new_memory, real *saved) {
    const NAME(DNCDims) d = NAME(dnc_dims)(N, W, R);
    for (int b = 0; b < B; b++) {
        const real *x = iface + (size_t)b * d.P, *Mp = memory + (size_t)b * N * W;
        const real *prw = prev_read + (size_t)b * R * N, *pww = prev_write + (size_t)b * N;
        const real *pu = prev_usage + (size_t)b * N, *Lp = prev_link + (size_t)b * N * N;
        const real *pp = prev_precedence + (size_t)b * N;
        real *s = saved + (size_t)b * d.saved_size, *M = new_memory + (size_t)b * N * W;
        real *rw = read_weights + (size_t)b * R * N, *ww = write_weights + (size_t)b * N;
        real *L = link + (size_t)b * N * N, *p = precedence + (size_t)b * N;
        real *act = s + d.activations, *erase = act, *free_gates = act + W;
        for (int i = 0; i < W + R + 2; i++) act[i] = NAME(sigmoid)(x[d.erase + i]);
        const real allocation_gate = act[W + R], write_gate = act[W + R + 1];
        for (int k = 0; k <= R; k++) s[d.strength + k] = NAME(oneplus)(x[d.strengths + k]);

        /* usage: (u + w - u w) * prod_r (1 - f_r w_r), from the previous weights */
        real *usage = usage_out + (size_t)b * N;
        for (int n = 0; n < N; n++) {
            real retention = 1;
            for (int r = 0; r < R; r++) retention *= 1 - free_gates[r] * prw[r * N + n];
            s[d.usage_written + n] = pu[n] + pww[n] - pu[n] * pww[n];
            s[d.retention + n] = retention;
            usage[n] = s[d.usage_written + n] * retention;
        }

        /* write weights: content on M_{t-1} mixed with allocation */
        NAME(row_norms)(Mp, N, W, s + d.norm_prev);
        s[d.key_norm + R] = NAME(content)(x + d.keys + R * W, s[d.strength + R], Mp,
                                          s + d.norm_prev, N, W, s + d.write_similarity,
                                          s + d.write_content);
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
            ww[n] = write_gate * s[d.mixed + n];
        }

        /* erase and write: M_t = M_{t-1} + w (v - M_{t-1} e) */
        const real *v = x + d.write_vector;
        for (int n = 0; n < N; n++)
            for (int j = 0; j < W; j++)
                M[n * W + j] = Mp[n * W + j] + ww[n] * (v[j] - Mp[n * W + j] * erase[j]);

        /* link L[i][j] = (1 - w_i - w_j) L_p[i][j] + w_i p_p[j], zero diagonal; precedence */
        real written = 0;
        for (int i = 0; i < N; i++) {
            for (int j = 0; j < N; j++)
                L[i * N + j] = (1 - ww[i] - ww[j]) * Lp[i * N + j] + ww[i] * pp[j];
            L[i * N + i] = 0;
            written += ww[i];
        }
        for (int n = 0; n < N; n++) p[n] = (1 - written) * pp[n] + ww[n];

        /* read weights: content on M_t, forward L w_r, backward L^T w_r, mixed by the modes */
        NAME(row_norms)(M, N, W, s + d.norm_new);
        for (int r = 0; r < R; r++) {
            real *content = s + d.read_content + r * N, *mode = s + d.mode + 3 * r;
            real *forward = s + d.forward + r * N, *backward = s + d.backward + r * N;
            s[d.key_norm + r] = NAME(content)(x + d.keys + r * W, s[d.strength + r], M,
                                              s + d.norm_new, N, W,
                                              s + d.read_similarity + r * N, content);
            /* row by row, so both loops run along rows of L (contiguous, vectorized) */
            const real *restrict w = prw + r * N;
            real *restrict f = forward, *restrict bw = backward;
            for (int j = 0; j < N; j++) bw[j] = 0;
            for (int i = 0; i < N; i++) {
                const real *restrict row = L + i * N;
                real total = 0;
                for (int j = 0; j < N; j++) {
                    total += row[j] * w[j];
                    bw[j] += row[j] * w[i];
                }
                f[i] = total;
            }
            for (int m = 0; m < 3; m++) mode[m] = x[d.modes + 3 * r + m];
            NAME(softmax)(mode, 3);
            real *weights = rw + r * N, *read = reads + ((size_t)b * R + r) * W;
            for (int n = 0; n < N; n++)
                weights[n] = mode[0] * backward[n] + mode[1] * forward[n] + mode[2] * content[n];
            memset(read, 0, sizeof(real) * W);
            for (int n = 0; n < N; n++)
                for (int j = 0; j < W; j++) read[j] += weights[n] * M[n * W + j];
        }
    }
}

int NAME(dnc_access_backward)(int B, int N, int W, int R, const real *iface, const real *memory,
                              const real *prev_read, const real *prev_write,
                              const real *prev_link, const real *prev_precedence,
                              const real *read_weights, const real *write_weights,
                              const real *link, const real *new_memory, real *saved,
                              const real *grad_reads, const real *grad_read_weights,
                              const real *grad_write_weights, const real *grad_usage,
                              const real *grad_link, const real *grad_precedence,
                              const real *grad_new_memory, real *grad_iface, real *grad_memory,
                              real *grad_prev_read, real *grad_prev_usage,
                              real *grad_prev_link, real *grad_prev_precedence) {
    const NAME(DNCDims) d = NAME(dnc_dims)(N, W, R);
    /* work: GM (N, W), G_rw (R, N), G_L (N, N), G_ww, G_u, g_norm, g_sorted, G_ww2 (N each) */
    real *work = malloc(sizeof(real) * ((size_t)N * W + (size_t)R * N + (size_t)N * N + 5 * N));
    if (!work) return 1;
    real *GM = work, *G_rw = GM + N * W, *G_L = G_rw + R * N, *G_ww = G_L + N * N;
    real *G_u = G_ww + N, *g_norm = G_u + N, *g_sorted = g_norm + N, *G_ww2 = g_sorted + N;

    for (int b = 0; b < B; b++) {
        const real *x = iface + (size_t)b * d.P, *Mp = memory + (size_t)b * N * W;
        const real *prw = prev_read + (size_t)b * R * N, *Lp = prev_link + (size_t)b * N * N;
        const real *pp = prev_precedence + (size_t)b * N, *M = new_memory + (size_t)b * N * W;
        const real *pww = prev_write + (size_t)b * N;
        const real *rw = read_weights + (size_t)b * R * N, *ww = write_weights + (size_t)b * N;
        const real *L = link + (size_t)b * N * N, *s = saved + (size_t)b * d.saved_size;
        const real *act = s + d.activations, *erase = act, *free_gates = act + W;
        const real allocation_gate = act[W + R], write_gate = act[W + R + 1];
        real *gx = grad_iface + (size_t)b * d.P, *g_Mp = grad_memory + (size_t)b * N * W;
        real *g_prw = grad_prev_read + (size_t)b * R * N, *g_pu = grad_prev_usage + (size_t)b * N;
        real *g_Lp = grad_prev_link + (size_t)b * N * N;
        real *g_pp = grad_prev_precedence + (size_t)b * N;
        memset(gx, 0, sizeof(real) * d.P);
        memset(g_prw, 0, sizeof(real) * R * N);
        memcpy(GM, grad_new_memory + (size_t)b * N * W, sizeof(real) * N * W);
        memcpy(G_rw, grad_read_weights + (size_t)b * R * N, sizeof(real) * R * N);
        memcpy(G_L, grad_link + (size_t)b * N * N, sizeof(real) * N * N);
        memcpy(G_ww, grad_write_weights + (size_t)b * N, sizeof(real) * N);
        memset(G_ww2, 0, sizeof(real) * N); /* column sums of the link's gradient, kept apart */
        memcpy(G_u, grad_usage + (size_t)b * N, sizeof(real) * N);
        const real *G_p = grad_precedence + (size_t)b * N;

        /* reads r = w_r M_t */
        for (int r = 0; r < R; r++) {
            const real *gr = grad_reads + ((size_t)b * R + r) * W;
            for (int n = 0; n < N; n++) {
                real total = 0;
                for (int j = 0; j < W; j++) {
                    total += gr[j] * M[n * W + j];
                    GM[n * W + j] += gr[j] * rw[r * N + n];
                }
                G_rw[r * N + n] += total;
            }
        }
        /* read weights: modes, links, content on M_t */
        memset(g_norm, 0, sizeof(real) * N);
        for (int r = 0; r < R; r++) {
            const real *mode = s + d.mode + 3 * r, *content = s + d.read_content + r * N;
            const real *forward = s + d.forward + r * N, *backward = s + d.backward + r * N;
            real *g = G_rw + r * N, g_mode[3] = {0, 0, 0};
            for (int n = 0; n < N; n++) {
                g_mode[0] += g[n] * backward[n];
                g_mode[1] += g[n] * forward[n];
                g_mode[2] += g[n] * content[n];
            }
            NAME(softmax_backward)(mode, g_mode, gx + d.modes + 3 * r, 3);
            /* forward[i] = sum_j L[i][j] w[j]; backward[j] = sum_i L[i][j] w[i]; row by row:
             * dL[i][j] += g_f[i] w[j] + w[i] g_b[j]; dw[j] += g_f[i] L[i][j]; dw[i] += L[i] . g_b */
            const real *restrict w = prw + r * N;
            real *restrict g_w = g_prw + r * N;
            for (int i = 0; i < N; i++) {
                const real *restrict row = L + i * N;
                real *restrict g_row = G_L + i * N;
                const real g_forward = mode[1] * g[i], w_i = w[i];
                real total = 0;
                for (int j = 0; j < N; j++) {
                    const real g_backward = mode[0] * g[j];
                    g_row[j] += g_forward * w[j] + w_i * g_backward;
                    g_w[j] += g_forward * row[j];
                    total += row[j] * g_backward;
                }
                g_w[i] += total;
            }
            for (int n = 0; n < N; n++) g[n] *= mode[2]; /* now the content weights' gradient */
            const real g_strength = NAME(content_backward)(
                x + d.keys + r * W, s[d.key_norm + r], s[d.strength + r], M, s + d.norm_new,
                s + d.read_similarity + r * N, content, g, N, W, gx + d.keys + r * W, GM, g_norm);
            gx[d.strengths + r] = g_strength * NAME(doneplus)(x[d.strengths + r]);
        }
        NAME(norms_backward)(M, s + d.norm_new, g_norm, N, W, GM);

        /* precedence p = (1 - sum w) p_p + w */
        real written = 0, g_written = 0;
        for (int n = 0; n < N; n++) written += ww[n], g_written -= G_p[n] * pp[n];
        for (int n = 0; n < N; n++) {
            g_pp[n] = (1 - written) * G_p[n];
            G_ww[n] += G_p[n] + g_written;
        }
        /* link, off the diagonal (the diagonal's gradient is zeroed first) */
        for (int i = 0; i < N; i++) G_L[i * N + i] = 0;
        for (int i = 0; i < N; i++) {
            const real *restrict g_row = G_L + i * N, *restrict old_row = Lp + i * N;
            real *restrict g_old_row = g_Lp + i * N;
            const real w_i = ww[i];
            real total = 0;
            for (int j = 0; j < N; j++) {
                const real g = g_row[j];
                g_old_row[j] = g * (1 - w_i - ww[j]);
                total += g * (pp[j] - old_row[j]);
                G_ww2[j] -= g * old_row[j];
                g_pp[j] += g * w_i;
            }
            G_ww[i] += total;
        }
        for (int j = 0; j < N; j++) G_ww[j] += G_ww2[j];
        /* erase and write */
        const real *v = x + d.write_vector;
        real *g_erase = gx + d.erase, *g_vector = gx + d.write_vector;
        for (int n = 0; n < N; n++) {
            real total = 0;
            for (int j = 0; j < W; j++) {
                const real g = GM[n * W + j], old = Mp[n * W + j];
                g_Mp[n * W + j] = g * (1 - ww[n] * erase[j]);
                total += g * (v[j] - old * erase[j]);
                g_erase[j] -= g * old * ww[n];
                g_vector[j] += g * ww[n];
            }
            G_ww[n] += total;
        }
        for (int j = 0; j < W; j++) g_erase[j] *= erase[j] * (1 - erase[j]);

        /* write weights w = g_w (c + g_a (a - c)) */
        real g_write_gate = 0, g_allocation_gate = 0;
        real *g_content = G_ww; /* reused in place: G_ww becomes the content weights' gradient */
        for (int n = 0; n < N; n++) {
            const real g_mixed = write_gate * G_ww[n];
            const real allocation = s[d.allocation + n], content = s[d.write_content + n];
            g_write_gate += G_ww[n] * s[d.mixed + n];
            g_allocation_gate += g_mixed * (allocation - content);
            g_sorted[n] = allocation_gate * g_mixed; /* allocation gradient, by slot for now */
            g_content[n] = (1 - allocation_gate) * g_mixed;
        }
        gx[d.write_gate] = g_write_gate * write_gate * (1 - write_gate);
        gx[d.allocation_gate] = g_allocation_gate * allocation_gate * (1 - allocation_gate);
        /* allocation a[order[i]] = (1 - sorted[i]) prefix[i], prefix = exclusive cumprod */
        {
            const real *sorted = s + d.sorted, *order = s + d.order, *prefix = s + d.prefix;
            real g_allocation[N];
            for (int i = 0; i < N; i++) g_allocation[i] = g_sorted[(int)order[i]];
            for (int i = 0; i < N; i++) {
                real total = -g_allocation[i] * prefix[i], running = prefix[i];
                for (int m = i + 1; m < N; m++) {
                    total += g_allocation[m] * (1 - sorted[m]) * running;
                    running *= sorted[m];
                }
                G_u[(int)order[i]] += total * (1 - EPSILON);
            }
        }
        /* write content on M_{t-1} */
        memset(g_norm, 0, sizeof(real) * N);
        const real g_strength = NAME(content_backward)(
            x + d.keys + R * W, s[d.key_norm + R], s[d.strength + R], Mp, s + d.norm_prev,
            s + d.write_similarity, s + d.write_content, g_content, N, W, gx + d.keys + R * W,
            g_Mp, g_norm);
        gx[d.strengths + R] = g_strength * NAME(doneplus)(x[d.strengths + R]);
        NAME(norms_backward)(Mp, s + d.norm_prev, g_norm, N, W, g_Mp);

        /* usage u = u_w * retention; no gradient to the previous write weights */
        real *g_free = gx + d.free_gates;
        for (int n = 0; n < N; n++) {
            const real g_retention = G_u[n] * s[d.usage_written + n];
            g_pu[n] = G_u[n] * s[d.retention + n] * (1 - pww[n]);
            for (int r = 0; r < R; r++) {
                real others = 1;
                for (int o = 0; o < R; o++)
                    if (o != r) others *= 1 - free_gates[o] * prw[o * N + n];
                g_free[r] -= g_retention * prw[r * N + n] * others;
                g_prw[r * N + n] -= g_retention * free_gates[r] * others;
            }
        }
        for (int r = 0; r < R; r++) g_free[r] *= free_gates[r] * (1 - free_gates[r]);
    }
    free(work);
    return 0;
}
