"""A whole NTM or DNC sequence on the CPU as one autograd node: the fused unroll.

    outputs, reads, state = unroll(circuit, projected, state)
    # outputs (B, T, C): the controller's; reads (B, T, R, W); state: MemoryCircuitState at T

is what `circuit.unroll` runs on the CPU when the access step has its C kernel: the same maths
as T calls of the circuit's step (controller, interface layer, access step), but the loop runs
with no autograd graph: each step is two or three matrix products (torch), the LSTM cell's
pointwise part (C: `lstm_cell.c`) and the access step (C: `ntm_access.c` / `dnc_access.c`),
writing into buffers allocated once per sequence. The backward walks the steps in reverse with
the kernels' hand-written gradients, and computes the weight gradients of the controller and of
the interface layer at the end, one matrix product each over all T steps, where the step-by-step
graph had one small product per step and parameter. A whole training iteration (quiet 2-core
Xeon, `scripts/bench_circuits.py`: "train_step" against "train_step, step by step") is 1.6x
faster for the NTM copy and 1.5x for the DNC repeat-copy at batch 16, 2.3x and 1.7x at batch 1;
evaluation (no graph) 1.15x and 1.3x.

What it keeps for the backward: every step's interface vector, gates, controller output, reads,
the access state and the kernels' saved intermediates (what the step-by-step graph keeps too).
With no gradient wanted (evaluation), it keeps two access states, the current and the next.

Not differentiable twice: a backward with create_graph=True through it raises; the step-by-step
path (`circuit.fused_unroll = False`) supports that, the torch ops under it too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from memagents.kernels.build import kernel, layout_pointer, threads_for

__all__ = ["Geometry", "unroll"]


@dataclass(frozen=True)
class Geometry:
    """The sizes the loop needs, from the circuit and the batch."""

    circuit: str  # "ntm" or "dnc"
    lstm: bool  # an LSTM controller (else feed-forward, clipped ReLU)
    B: int
    T: int
    C: int  # controller size
    R: int  # read heads
    H: int  # write heads
    N: int  # memory slots
    W: int  # word size
    I: int  # interface size  # noqa: E741
    shifts: int  # the NTM's 2 * shift_range + 1 (0 for the DNC)
    offsets: tuple[int, ...]
    clip: float  # the feed-forward controller's output clip

    @property
    def state_shapes(self) -> tuple[tuple[int, ...], ...]:
        """The access state the kernels step (without the read vectors)."""
        B, N, W, R, H = self.B, self.N, self.W, self.R, self.H
        if self.circuit == "ntm":  # memory, read weights, write weights
            return (B, N, W), (B, R, N), (B, H, N)
        # memory, read weights, write weights, usage, link, precedence
        return (B, N, W), (B, R, N), (B, 1, N), (B, N), (B, 1, N, N), (B, 1, N)


def _slot_pointers(buffer: Tensor) -> list[int]:
    """The address of each buffer[i] (contiguous buffer)."""
    step = buffer.stride(0) * buffer.element_size()
    base = buffer.data_ptr()
    return [base + i * step for i in range(buffer.shape[0])]


class _Unroll(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        g: Geometry,
        keep: bool,
        projected: Tensor,
        reads_weight: Tensor,
        hidden_weight: Tensor | None,
        interface_weight: Tensor,
        interface_bias: Tensor,
        hidden0: Tensor | None,
        cell0: Tensor | None,
        reads0: Tensor,
        *access0: Tensor,
    ) -> tuple[Tensor, ...]:
        B, T, C, R, W = g.B, g.T, g.C, g.R, g.W
        # Without a backward to come, the per-step buffers other than the outputs and reads hold
        # two steps, the state buffers the current and the next state.
        slots, steps = (T + 1, T) if keep else (2, 2)

        def at(t: int) -> int:  # a step's slot in the per-step buffers
            return t if keep else t % 2

        new = projected.new_empty
        threads = threads_for(B)
        dtype = projected.dtype

        proj = projected.transpose(0, 1)  # (T, B, G), read one step at a time
        gates = new(steps, B, 4 * C if g.lstm else C)
        outputs = new(T, B, C)
        reads = new(T, B, R, W)
        interface = new(steps, B, g.I)
        cells = new(steps, B, C) if g.lstm else None
        states = [new(slots, *shape) for shape in g.state_shapes]
        for buffer, initial in zip(states, access0, strict=True):
            buffer[0].copy_(initial)
        if g.circuit == "ntm":
            step = kernel("ntm_access_forward", dtype)
            saved_size = kernel("ntm_access_saved_size", torch.float64)(g.N, W, R, g.H, g.shifts)
            sizes: tuple[int, ...] = (B, g.N, W, R, g.H, g.shifts, threads)
        else:
            step = kernel("dnc_access_forward", dtype)
            saved_size = kernel("dnc_access_saved_size", torch.float64)(g.N, W, R)
            sizes = (B, g.N, W, R, threads)
        saved = new(T if keep else 1, B, saved_size)  # read right after it is written
        layout = layout_pointer(g.offsets)
        state_pointers = [_slot_pointers(buffer) for buffer in states]
        saved_pointers = _slot_pointers(saved)
        interface_pointers = _slot_pointers(interface)
        reads_pointers = _slot_pointers(reads)
        reads0 = reads0.contiguous()
        reads_weight_t, interface_weight_t = reads_weight.t(), interface_weight.t()
        hidden_weight_t = hidden_weight.t() if hidden_weight is not None else None
        if g.lstm:
            assert hidden0 is not None and cell0 is not None
            cell_step = kernel("lstm_cell_forward", dtype)
            hidden0, cell0 = hidden0.contiguous(), cell0.contiguous()
            cell_pointers = _slot_pointers(cells)
            gates_pointers = _slot_pointers(gates)
            outputs_pointers = _slot_pointers(outputs)
        gates_t, outputs_t, reads_t, interface_t = (
            gates.unbind(0), outputs.unbind(0), reads.view(T, B, R * W).unbind(0),
            interface.unbind(0),
        )  # fmt: skip
        for t in range(T):
            k = at(t)
            prev_reads = reads0.view(B, R * W) if t == 0 else reads_t[t - 1]
            torch.addmm(proj[t], prev_reads, reads_weight_t, out=gates_t[k])
            if g.lstm:
                gates_t[k].addmm_(hidden0 if t == 0 else outputs_t[t - 1], hidden_weight_t)
                prev_cell = cell0.data_ptr() if t == 0 else cell_pointers[at(t - 1)]
                cell_step(B, C, gates_pointers[k], prev_cell, outputs_pointers[t], cell_pointers[k])
            else:
                torch.clamp(gates_t[k], 0.0, g.clip, out=outputs_t[t])
            torch.addmm(interface_bias, outputs_t[t], interface_weight_t, out=interface_t[k])
            now, then = (t, t + 1) if keep else (t % 2, (t + 1) % 2)
            prev = [pointers[now] for pointers in state_pointers]
            nxt = [pointers[then] for pointers in state_pointers]
            saved_pointer = saved_pointers[t if keep else 0]
            if g.circuit == "ntm":  # in: memory, read, write; out: reads, read, write, memory
                step(
                    *sizes, layout, interface_pointers[k], *prev, reads_pointers[t], nxt[1],
                    nxt[2], nxt[0], saved_pointer,
                )  # fmt: skip
            else:  # out: reads, read, write, usage, link, precedence, memory
                step(
                    *sizes, layout, interface_pointers[k], *prev, reads_pointers[t], *nxt[1:],
                    nxt[0], saved_pointer,
                )  # fmt: skip

        # The final state as copies: views would keep every step's buffers alive as long as the
        # state (a carried state in truncated backpropagation, say).
        final = T if keep else T % 2
        final_state = tuple(buffer[final].clone() for buffer in states)
        if keep:
            ctx.geometry = g
            ctx.save_for_backward(
                reads_weight, hidden_weight, interface_weight, hidden0, cell0, reads0,
                gates, outputs, reads, interface, cells, saved, *states,
            )  # fmt: skip
        cell_final = cells[at(T - 1)].clone() if cells is not None else outputs.new_empty(0)
        return outputs.transpose(0, 1), reads.transpose(0, 1), cell_final, *final_state

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, *grads: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        g: Geometry = ctx.geometry
        B, T, C, R, W, N = g.B, g.T, g.C, g.R, g.W, g.N
        (reads_weight, hidden_weight, interface_weight, hidden0, cell0, reads0, gates, outputs,
         reads, interface, cells, saved, *states) = ctx.saved_tensors  # fmt: skip
        grad_outputs, grad_reads, grad_cell, *grad_state = grads
        new = gates.new_empty
        dtype = gates.dtype
        threads = threads_for(B)
        layout = layout_pointer(g.offsets)

        # Gradients flowing into each step's controller output and reads, time-major; the
        # recursion adds what the next step's controller sends back.
        grad_h = new(T, B, C).copy_(grad_outputs.transpose(0, 1))
        grad_r = new(T, B, R, W).copy_(grad_reads.transpose(0, 1))
        grad_h_t, grad_r_t = grad_h.unbind(0), grad_r.view(T, B, R * W).unbind(0)
        grad_gates = torch.empty_like(gates)
        grad_interface = torch.empty_like(interface)
        grad_gates_t, gates_t = grad_gates.unbind(0), gates.unbind(0)

        # The access state's gradient, carried from step t to t-1: two sets, read and written in
        # turn. The DNC's previous write weights get none (the usage gradient is stopped there).
        shapes = g.state_shapes
        carry = [
            [new(*shape).copy_(grad) for shape, grad in zip(shapes, grad_state, strict=True)],
            [new(*shape) for shape in shapes],
        ]
        carry_pointers = [[t.data_ptr() for t in group] for group in carry]
        state_pointers = [_slot_pointers(buffer) for buffer in states]
        saved_pointers = _slot_pointers(saved)
        interface_pointers = _slot_pointers(interface)
        grad_interface_pointers = _slot_pointers(grad_interface)
        grad_reads_pointers = _slot_pointers(grad_r)
        if g.circuit == "ntm":
            step = kernel("ntm_access_backward", dtype)
            sizes: tuple[int, ...] = (B, N, W, R, g.H, g.shifts, threads)
        else:
            step = kernel("dnc_access_backward", dtype)
            sizes = (B, N, W, R, threads)
        if g.lstm:
            cell_step = kernel("lstm_cell_backward", dtype)
            grad_c = new(B, C).copy_(grad_cell)
            cell_pointers = [cell0.data_ptr(), *_slot_pointers(cells)]
            gates_pointers = _slot_pointers(gates)
            grad_gates_pointers = _slot_pointers(grad_gates)
            grad_h_pointers = _slot_pointers(grad_h)

        current = 0
        for t in reversed(range(T)):
            inward, outward = carry_pointers[current], carry_pointers[1 - current]
            prev = [pointers[t] for pointers in state_pointers]
            if g.circuit == "ntm":
                # in: interface, memory, read, write at t-1, saved; grads of reads, read weights,
                # write weights, memory at t; out: grads of interface, memory, read, write at t-1
                status = step(
                    *sizes, layout, interface_pointers[t], *prev, saved_pointers[t],
                    grad_reads_pointers[t], inward[1], inward[2], inward[0],
                    grad_interface_pointers[t], outward[0], outward[1], outward[2],
                )  # fmt: skip
            else:
                # in: interface, memory, read, write, link, precedence at t-1; read, write,
                # link, memory at t; saved; grads of reads, read, write, usage, link,
                # precedence, memory at t; out: grads of interface, memory, read, usage, link,
                # precedence at t-1
                nxt = [pointers[t + 1] for pointers in state_pointers]
                status = step(
                    *sizes, layout, interface_pointers[t], *prev[:3], prev[4], prev[5],
                    nxt[1], nxt[2], nxt[4], nxt[0], saved_pointers[t],
                    grad_reads_pointers[t], inward[1], inward[2], inward[3], inward[4],
                    inward[5], inward[0],
                    grad_interface_pointers[t], outward[0], outward[1], outward[3], outward[4],
                    outward[5],
                )  # fmt: skip
                carry[1 - current][2].zero_()  # the kernel gives the write weights none
            if status:
                raise MemoryError(f"{g.circuit}_access backward: out of memory")
            current = 1 - current
            grad_h_t[t].addmm_(grad_interface[t], interface_weight)
            if g.lstm:
                cell_step(
                    B, C, gates_pointers[t], cell_pointers[t], cell_pointers[t + 1],
                    grad_h_pointers[t], grad_c.data_ptr(), grad_gates_pointers[t],
                )  # fmt: skip
            else:
                grad_gates_t[t].copy_(
                    torch.ops.aten.hardtanh_backward(grad_h_t[t], gates_t[t], 0.0, g.clip)
                )
            if t > 0:
                grad_r_t[t - 1].addmm_(grad_gates_t[t], reads_weight)
                if g.lstm:
                    grad_h_t[t - 1].addmm_(grad_gates_t[t], hidden_weight)

        needs = ctx.needs_input_grad[1:]  # as the forward's arguments after the geometry
        flat_gates = grad_gates.view(T * B, -1)
        prev_reads = torch.cat([reads0.view(1, B, R * W), reads[: T - 1].view(T - 1, B, R * W)])
        grad_reads_weight = flat_gates.t().mm(prev_reads.view(T * B, R * W)) if needs[2] else None
        grad_hidden_weight = grad_hidden0 = grad_cell0 = None
        if g.lstm:
            if needs[3]:
                prev_hidden = torch.cat([hidden0.unsqueeze(0), outputs[: T - 1]])
                grad_hidden_weight = flat_gates.t().mm(prev_hidden.view(T * B, C))
            grad_hidden0 = grad_gates[0].mm(hidden_weight) if needs[6] else None
            grad_cell0 = grad_c if needs[7] else None
        flat_interface = grad_interface.view(T * B, g.I)
        grad_interface_weight = flat_interface.t().mm(outputs.view(T * B, C)) if needs[4] else None
        grad_interface_bias = flat_interface.sum(0) if needs[5] else None
        grad_reads0 = grad_gates[0].mm(reads_weight).view(B, R, W) if needs[8] else None
        grad_access0 = list(carry[current])
        if g.circuit == "dnc":
            grad_access0[2] = None  # the write weights: none, as the step-by-step path
        return (
            None, None, grad_gates.transpose(0, 1), grad_reads_weight, grad_hidden_weight,
            grad_interface_weight, grad_interface_bias, grad_hidden0, grad_cell0, grad_reads0,
            *grad_access0,
        )  # fmt: skip


def unroll(circuit: Any, projected: Tensor, state: Any) -> tuple[Tensor, Tensor, Any]:
    """The circuit's T steps from `projected` (B, T, 4C or C: the controller's projected inputs)
    and `state` (MemoryCircuitState): controller outputs (B, T, C), reads (B, T, R, W) and the
    MemoryCircuitState at T, as `_MemoryCircuit.unroll`'s loop computes them."""
    from memagents.access import DNCAccessState, NTMAccessState
    from memagents.circuits import MemoryCircuitState
    from memagents.controllers import LSTMState

    access, controller = circuit.access, circuit.controller
    B, T, _ = projected.shape
    lstm = isinstance(state.controller, LSTMState)
    is_ntm = isinstance(state.access, NTMAccessState)
    geometry = Geometry(
        circuit="ntm" if is_ntm else "dnc",
        lstm=lstm,
        B=B,
        T=T,
        C=controller.hidden_size,
        R=access.num_reads,
        H=access.num_writes,
        N=state.access.memory.shape[1],  # the state's: a batch may use fewer slots
        W=access.word_size,
        I=access.layout.size,
        shifts=2 * access.shift_range + 1 if is_ntm else 0,
        offsets=tuple(access.offsets),
        clip=float(getattr(controller, "clip_value", 0.0)),
    )
    access0 = state.access[:3] if is_ntm else state.access[:6]
    tensors = (projected, *state.controller, state.access.read_vectors, *access0)
    weights = (controller.reads_weight, access.interface.weight, access.interface.bias)
    if lstm:
        weights += (controller.hidden_weight,)
    keep = torch.is_grad_enabled() and any(t.requires_grad for t in (*tensors, *weights))
    outputs, reads, cell, *final = _Unroll.apply(
        geometry,
        keep,
        projected,
        controller.reads_weight,
        controller.hidden_weight if lstm else None,
        access.interface.weight,
        access.interface.bias,
        state.controller.hidden if lstm else None,
        state.controller.cell if lstm else None,
        state.access.read_vectors,
        *access0,
    )
    last_reads = reads[:, -1].clone()  # not a view: see the final state above
    if is_ntm:
        access_state: Any = NTMAccessState(*final, last_reads)
    else:
        access_state = DNCAccessState(*final, last_reads)
    controller_state = LSTMState(outputs[:, -1].clone(), cell) if lstm else state.controller
    return outputs, reads, MemoryCircuitState(controller_state, access_state)
