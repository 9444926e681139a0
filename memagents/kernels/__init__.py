"""Fused CPU kernels in C, loaded with ctypes and wrapped as autograd Functions.

    build.py        compiles the C sources with the system compiler, caches and loads the library
    ntm.py          the NTM access step (ntm_access.c) as one autograd Function
    ntm_access.c    its forward and hand-written backward

Optional: without a compiler the circuits run the same maths on torch ops.
"""
