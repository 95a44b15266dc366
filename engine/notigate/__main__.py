"""``python -m notigate`` is the ``notigate`` command."""

from notigate.cli import main

main()
