"""Write a small wine-quality-like CSV (the UCI red-wine file's columns, `;`-separated).

The product's sample downloads the UCI file; offline clusters cannot, so the sample reads a local
copy. This makes one with the same columns and plausible value ranges; `quality` depends on a few
features plus noise, so ElasticNet learns something.

    python make_winequality.py [OUT.csv] [ROWS]
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd

COLUMNS = {  # name: (mean, std, low, high) roughly as in the UCI red-wine data
    "fixed acidity": (8.3, 1.7, 4.6, 15.9),
    "volatile acidity": (0.53, 0.18, 0.12, 1.58),
    "citric acid": (0.27, 0.19, 0.0, 1.0),
    "residual sugar": (2.5, 1.4, 0.9, 15.5),
    "chlorides": (0.087, 0.047, 0.012, 0.611),
    "free sulfur dioxide": (15.9, 10.5, 1.0, 72.0),
    "total sulfur dioxide": (46.5, 32.9, 6.0, 289.0),
    "density": (0.9967, 0.0019, 0.990, 1.004),
    "pH": (3.31, 0.15, 2.74, 4.01),
    "sulphates": (0.66, 0.17, 0.33, 2.0),
    "alcohol": (10.4, 1.07, 8.4, 14.9),
}


def make(rows: int = 400, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data = {name: np.clip(rng.normal(m, s, rows), lo, hi) for name, (m, s, lo, hi) in COLUMNS.items()}
    score = (5.6 + 0.35 * (data["alcohol"] - 10.4) - 1.2 * (data["volatile acidity"] - 0.53)
             + 0.8 * (data["sulphates"] - 0.66) + rng.normal(0, 0.5, rows))
    data["quality"] = np.clip(np.rint(score), 3, 8).astype(int)
    return pd.DataFrame(data)


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else "winequality-red.csv"
    make(int(sys.argv[2]) if len(sys.argv) > 2 else 400).to_csv(out, sep=";", index=False)
    print(f"wrote {out}")
