"""``python -m trainwise``: the same as the ``trainwise`` command (and what ``torchrun -m
trainwise train CONFIG`` starts on each rank)."""

from trainwise.cli.main import main

main()
