"""Sub-commands of the ``multidraft`` command line (see :mod:`multidraft.cli`)."""
