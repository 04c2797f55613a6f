"""`python -m core.rl.jobside train SPEC.json OUTDIR` | `predict CHECKPOINT SPEC.json OUTDIR [EPISODES]`.

Exit 0 on success, 2 on a bad spec or arguments (the validation message, field first, on stderr),
1 on a failure of training itself (the traceback: the job log is where users look).
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

from core.errors import HpcaiError
from core.rl.jobside.cluster import Terminated, _terminate

USAGE = "usage: python -m core.rl.jobside train SPEC.json OUTDIR | predict CHECKPOINT SPEC.json OUTDIR [EPISODES]"


def _spec(path: str) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise SystemExit(f"{path}: cannot read the training spec: {exc}") from None


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    signal.signal(signal.SIGTERM, _terminate)  # until the cluster is up; ray_cluster sets it again after ray.init
    try:
        if len(args) == 3 and args[0] == "train":
            from core.rl.jobside.train import train

            train(_spec(args[1]), Path(args[2]))
        elif len(args) in (4, 5) and args[0] == "predict":
            from core.rl.jobside.predict import predict

            episodes = int(args[4]) if len(args) == 5 else 10
            predict(Path(args[1]), _spec(args[2]), Path(args[3]), episodes=episodes)
        else:
            print(USAGE, file=sys.stderr)
            return 2
    except HpcaiError as exc:
        print(exc.text, file=sys.stderr)  # one "field: message (fix)" line per error
        return 2
    except SystemExit as exc:
        print(exc, file=sys.stderr)
        return 2
    except Terminated:
        print("terminated (SIGTERM): Ray cluster stopped", file=sys.stderr)
        return 143
    return 0


if __name__ == "__main__":
    sys.exit(main())
