"""``python -m helpers``: see :mod:`helpers.cli`."""

from helpers.cli import main

raise SystemExit(main())
