"""``python -m trainwise.cli``: the same as the ``trainwise`` command."""

from trainwise.cli.main import main

main()
