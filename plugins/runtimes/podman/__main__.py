"""On the node: `python plugins/runtimes/podman SPEC -- argv...` runs one rank in podman."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from core.containers.runtime import main  # noqa: E402
from plugins.runtimes.podman import Podman  # noqa: E402

sys.exit(main(Podman(), sys.argv[1:]))
