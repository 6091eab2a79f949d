"""``python -m patchwire.cli``: the same as the ``patchwire`` script."""

from patchwire.cli import main

main()
