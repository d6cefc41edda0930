"""``python -m vault`` runs the ``biovault`` command."""

import sys

from vault.cli.main import main

sys.exit(main())
