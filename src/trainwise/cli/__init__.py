"""The ``trainwise`` command line: one subcommand per file."""
