"""Site settings of auto-tuning: where studies live and how dead workers are detected.

    [autotune]                                  # etc/hpcai.toml
    storage = "postgresql+psycopg://u:p@db/studies" # [HPCAI_TUNE_STORAGE]; no default: the jobs of
                                                    # users get this URL (their code runs Optuna)
    heartbeat_interval = 10                     # [HPCAI_TUNE_HEARTBEAT] seconds
    grace_period = 30                           # [HPCAI_TUNE_GRACE] a trial silent this long died
    max_retry = 3                               # re-runs of a trial whose worker died

Optuna's tables go into their own PostgreSQL schema (`optuna`), never beside hpcai's. Without
PostgreSQL a one-job study uses a journal file in the job directory; a study spread over several
jobs needs PostgreSQL (SQLite breaks with parallel workers). The trials run inside the user's job
(as the user), so the job must reach the study storage itself: the platform hands the configured
URL to the job (HPCAI_TUNE_STORAGE in its environment, plan.json in the user's own directory).
It is never the platform's own database: a job that held that URL could rewrite the store. A
site gives studies a database, or a role limited to the `optuna` schema, of their own.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from core.config import Config


@dataclass
class TuneSettings:
    storage_url: str | None
    heartbeat_s: int
    grace_s: int
    max_retry: int


def load_settings(config: Config, environ: dict[str, str] | None = None) -> TuneSettings:
    env = os.environ if environ is None else environ
    section = config.raw.get("autotune", {}) if isinstance(config.raw, dict) else {}
    url = env.get("HPCAI_TUNE_STORAGE") or section.get("storage") or None
    heartbeat = int(env.get("HPCAI_TUNE_HEARTBEAT") or section.get("heartbeat_interval", 10))
    grace = int(env.get("HPCAI_TUNE_GRACE") or section.get("grace_period", max(3 * heartbeat, 30)))
    return TuneSettings(storage_url=url, heartbeat_s=max(heartbeat, 1), grace_s=max(grace, heartbeat + 1),
                        max_retry=int(section.get("max_retry", 3)))
