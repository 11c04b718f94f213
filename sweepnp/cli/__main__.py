"""``python -m sweepnp.cli``: the ``sweepnp`` command."""

from sweepnp.cli import main

if __name__ == "__main__":
    main()
