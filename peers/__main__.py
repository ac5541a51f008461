"""``python -m peers``: see :mod:`peers.run`."""

from peers.run import main

raise SystemExit(main())
