"""Keep freed memory in the process on Linux, so training steps stop faulting pages in.

torch's CPU tensors come from ``malloc``. glibc hands out blocks above a threshold (128 KiB
to start) as fresh ``mmap`` pages and unmaps them again when freed, so every training step
of a convolutional network, whose activations are megabytes each, faults all of them in
anew: about 5,500 page faults and 10 ms of kernel time per step of a three-block 32×32
CNN at batch 128, a quarter of the step. With a fixed threshold of 32 MiB (glibc's largest)
and a high trim threshold, freed blocks stay in the heap and the next step reuses them, the
way TensorFlow's and torch's GPU allocators keep theirs. The cost: memory freed after the
peak is returned to the system later (above 512 MiB free at the heap's top).

It changes how memory is obtained, never what is computed. Elsewhere than glibc it does
nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_TRIM_THRESHOLD = -1  # glibc's mallopt parameters (malloc.h)
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's maximum on 64-bit systems
TRIM_THRESHOLD = 512 * 1024 * 1024

_done = False


def keep_freed_memory() -> bool:
    """Set glibc's thresholds once per process; True where they were set."""
    global _done
    if _done:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    _done = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    return _done
