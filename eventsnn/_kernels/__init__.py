"""Private numba kernels. Flat float64/int64 arrays and scalars in, ``(value, status)`` out; no Python objects."""
