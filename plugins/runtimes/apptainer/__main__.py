"""On the node: `python plugins/runtimes/apptainer SPEC -- argv...` runs one rank in Apptainer."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from core.containers.runtime import main  # noqa: E402
from plugins.runtimes.apptainer import Apptainer  # noqa: E402

sys.exit(main(Apptainer(), sys.argv[1:]))
