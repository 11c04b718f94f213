"""``python -m sweepnp``: the ``sweepnp`` command, for environments without its console script."""

from sweepnp.cli import main

if __name__ == "__main__":
    main()
