"""On the node: `python plugins/runtimes/docker SPEC -- argv...` runs one rank in Docker."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from core.containers.runtime import main  # noqa: E402
from plugins.runtimes.docker import Docker  # noqa: E402

sys.exit(main(Docker(), sys.argv[1:]))
