"""The NTM and DNC access steps as registered torch ops, with fused C kernels for the CPU.

    layout.py       the interface vectors' fields (name, shape, activation), declared once
    ops.py          the ops memagents::ntm_access and memagents::dnc_access (torch.library): C on
                    the CPU, torch ops elsewhere, fake impls, autograd, double backward
    torch_ops.py    the steps composed of torch ops: free functions with the ops' signatures
    ntm.py          the NTM kernel's checked entries (forward, backward) -> ntm_access.c
    dnc.py          the DNC kernel's checked entries (forward, backward) -> dnc_access.c
    checks.py       the entries' dtype, device, contiguity and shape checks
    build.py        compiles the C sources with the system compiler, caches and loads the library
    common.h        C helpers shared by the kernels (activations, softmax, content weighting)
    ntm_access.c    the NTM step's forward and hand-written backward
    dnc_access.c    the DNC step's forward and hand-written backward (stages named after
                    memagents.addressing)
    cuda_graphs.py  a training iteration captured as CUDA graphs, one per (batch, length) bucket
    bench_registration.py   the registration styles' eager cost, side by side

Optional: without a compiler the ops run the same maths on torch ops.
"""
