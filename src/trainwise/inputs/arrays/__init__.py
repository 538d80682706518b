"""Array inputs: sensor feature frames (``data.kind: frames``) and images (``images``).

``catalog`` finds the files and their labels, ``decode`` reads one file, ``cache`` decodes a
source once into a memory-mapped cache, ``normalise`` fits per-channel statistics on the
training split, ``split`` keeps sessions whole, and ``kind`` is the two input kinds.
"""
