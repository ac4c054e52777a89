"""Sub-commands of the ``certpin`` CLI, one module each (see :mod:`certpin.cli`)."""
