"""``python -m vbq.cli``: the same as the ``vbq`` console script."""

from vbq.cli import main

main()
