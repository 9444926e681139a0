/*
 * The LSTM controller's pointwise cell, forward and backward, for the fused unroll
 * (memagents.kernels.unroll), which does the cell's matrix products with torch. Gate order
 * i, f, g, o, as torch.nn.LSTMCell and memagents.controllers.LSTMController:
 *
 *   i, f, o = sigmoid(a_i, a_f, a_o), g = tanh(a_g), c = f c_prev + i g, h = o tanh(c)
 *
 * lstm_cell_forward: gates (B, 4C) holds the pre-activations a and is overwritten with the
 * activations (i, f, g, o), which the backward reads; h and c are (B, C).
 * lstm_cell_backward: from the gradients of h and c (B, C), the gradients of the
 * pre-activations (B, 4C) and of c_prev (written over grad_cell).
 */

/* tanh from exp alone, so that gcc vectorizes the loops below with the vector exp (common.h):
 * (1 - e) / (1 + e) with e = exp(-2|x|), and near 0, where 1 - e loses digits, the Taylor series
 * to x^11 (its error below |x| = 0.05 is under 1e-16 of tanh). */
static real NAME(tanh_exp)(real x) {
    const real a = fabs(x), e = exp(-2 * a), x2 = x * x;
    const real tail = (real)62 / 2835 + x2 * ((real)-1382 / 155925);
    const real series =
        x * (1 + x2 * ((real)-1 / 3 + x2 * ((real)2 / 15 + x2 * ((real)-17 / 315 + x2 * tail))));
    const real t = (1 - e) / (1 + e);
    return a < (real)0.05 ? series : (x < 0 ? -t : t);
}

/* Loops over contiguous runs of one function, restrict pointers: so that each vectorizes. */
static void NAME(sigmoid_run)(real *restrict v, int n) {
    for (int k = 0; k < n; k++) v[k] = 1 / (1 + exp(-v[k]));
}

void NAME(lstm_cell_forward)(int B, int C, real *gates, const real *prev_cell, real *hidden,
                             real *cell) {
    for (int b = 0; b < B; b++) {
        real *restrict a = gates + (size_t)b * 4 * C, *restrict h = hidden + (size_t)b * C;
        const real *restrict c_prev = prev_cell + (size_t)b * C;
        real *restrict c = cell + (size_t)b * C;
        NAME(sigmoid_run)(a, 2 * C);          /* i, f */
        NAME(sigmoid_run)(a + 3 * C, C);      /* o */
        real *restrict g = a + 2 * C;
        for (int j = 0; j < C; j++) g[j] = NAME(tanh_exp)(g[j]);
        const real *in = a, *forget = a + C, *out = a + 3 * C;
#pragma GCC ivdep
        for (int j = 0; j < C; j++) {
            const real c_j = forget[j] * c_prev[j] + in[j] * g[j];
            c[j] = c_j;
            h[j] = out[j] * NAME(tanh_exp)(c_j);
        }
    }
}

void NAME(lstm_cell_backward)(int B, int C, const real *activations,
                              const real *prev_cell, const real *cell, const real *grad_hidden,
                              real *grad_cell, real *grad_gates) {
    for (int b = 0; b < B; b++) {
        const real *restrict act = activations + (size_t)b * 4 * C;
        const real *restrict gh = grad_hidden + (size_t)b * C;
        const real *restrict c_prev = prev_cell + (size_t)b * C, *restrict c = cell + (size_t)b * C;
        real *restrict gc = grad_cell + (size_t)b * C, *restrict ga = grad_gates + (size_t)b * 4 * C;
        const real *in = act, *forget = act + C, *cand = act + 2 * C, *out = act + 3 * C;
        real *g_in = ga, *g_forget = ga + C, *g_cand = ga + 2 * C, *g_out = ga + 3 * C;
#pragma GCC ivdep
        for (int j = 0; j < C; j++) {
            const real i = in[j], f = forget[j], g = cand[j], o = out[j];
            const real tc = NAME(tanh_exp)(c[j]);
            const real g_c = gc[j] + gh[j] * o * (1 - tc * tc);
            g_in[j] = g_c * g * i * (1 - i);
            g_forget[j] = g_c * c_prev[j] * f * (1 - f);
            g_cand[j] = g_c * i * (1 - g * g);
            g_out[j] = gh[j] * tc * o * (1 - o);
            gc[j] = g_c * f;
        }
    }
}
