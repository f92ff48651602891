"""Collect scores.json of finished runs into a Markdown table (for the README) and JSON.

    python scripts/results_table.py runs/en_ewt_gru runs/en_ewt_cnn ...
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def run_summary(run_dir: Path) -> dict:
    scores = json.loads((run_dir / "scores.json").read_text())
    config = _config(run_dir)
    return {"run": str(run_dir), "data": config["data"]["name"], "cle": config["model"]["cle"]["type"], **scores}


def _config(run_dir: Path) -> dict:
    from omegaconf import OmegaConf

    return OmegaConf.to_container(OmegaConf.load(run_dir / ".hydra" / "config.yaml"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--minutes", nargs="*", type=float, default=[],
                        help="wall time of each run, same order (default: train_seconds from scores.json)")
    args = parser.parse_args()
    rows = [run_summary(run) for run in args.runs]
    for row in rows:
        if "train_seconds" in row:
            row["minutes"] = round(row["train_seconds"] / 60, 1)
    for row, minutes in zip(rows, args.minutes):
        row["minutes"] = minutes
    metrics = ["UPOS", "XPOS", "UFeats", "AllTags", "Lemmas"]
    print("| data | CLE | split | " + " | ".join(metrics) + " | minutes |")
    print("|---|---|---|" + "--:|" * (len(metrics) + 1))
    for row in rows:
        for split in ("dev", "test"):
            if split in row:
                values = " | ".join(f"{row[split][m]:.2f}" if m in row[split] else "—" for m in metrics)
                print(f"| {row['data']} | {row['cle']} | {split} | {values} | {row.get('minutes', '')} |")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
