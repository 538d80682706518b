"""Data-parallel training across processes (``torchrun``): DistributedDataParallel with gloo
on CPUs and NCCL on GPUs.

``world.py`` is the process group (who am I, start, stop, name a dead rank);
``sharded_batches.py`` gives each rank its share of every global batch;
``data_parallel.py`` is what the fit loop asks of the other ranks (one wrapper, a handful of
collectives); ``launch.py`` opens a run on every rank: rank 0 does everything a
single-process run does, the other ranks only train in step with it.
"""
