"""Train a tiny recommendation model: popularity plus co-occurrence.

A weir command job. Context arrives in the environment:
  WEIR_INPUT_TOP      directories of top_tracks_28d (JSON lines)
  WEIR_INPUT_HISTORY  directories of user_tracks over 7 days (JSON lines)
  WEIR_OUTPUT         where to write the model (reco.json) and its card (model.json)
  WEIR_COUNTERS       where to write counters
Deterministic: the same inputs give the same bytes.
"""
import json
import os
import sys
from collections import defaultdict
from itertools import combinations
from pathlib import Path


def rows(var):
    for d in filter(None, os.environ.get(var, "").split(":")):
        for f in sorted(Path(d).glob("*.jsonl")):
            with open(f, encoding="utf-8") as fh:
                for line in fh:
                    line = line.strip()
                    if line:
                        yield json.loads(line)


def main():
    top = sorted(rows("WEIR_INPUT_TOP"), key=lambda r: (-r["plays"], r["track_id"]))
    popular = [r["track_id"] for r in top]
    candidates = set(popular)
    per_user = defaultdict(set)
    for r in rows("WEIR_INPUT_HISTORY"):
        if r["track_id"] in candidates:
            per_user[r["user_id"]].add(r["track_id"])
    pairs = defaultdict(int)
    for tracks in per_user.values():
        for a, b in combinations(sorted(tracks), 2):
            pairs[(a, b)] += 1
    neighbours = defaultdict(list)
    for (a, b), n in pairs.items():
        neighbours[a].append((n, b))
        neighbours[b].append((n, a))
    model = {
        "partition": os.environ["WEIR_PARTITION"],
        "popular": popular[:50],
        "similar": {
            t: [b for n, b in sorted(ns, key=lambda x: (-x[0], x[1]))[:10]]
            for t, ns in sorted(neighbours.items())
        },
    }
    out = Path(os.environ["WEIR_OUTPUT"])
    (out / "reco.json").write_text(json.dumps(model, sort_keys=True, indent=1), encoding="utf-8")
    # The model's card: weir seals its metrics into the manifest, where the
    # dataset's checks judge them (kind = "model" in weir.toml).
    card = {
        "framework": "weir-demo popularity+co-occurrence",
        "metrics": {
            "tracks": len(popular),
            "users": len(per_user),
            "pairs": len(pairs),
            "coverage": round(len(neighbours) / len(popular), 6) if popular else 0.0,
        },
        "signature": {"inputs": ["user_id", "track_id"], "outputs": ["track_id"]},
        "files": ["reco.json"],
    }
    (out / "model.json").write_text(json.dumps(card, sort_keys=True, indent=1), encoding="utf-8")
    with open(os.environ["WEIR_COUNTERS"], "w", encoding="utf-8") as fh:
        json.dump({"model.tracks": len(popular), "model.pairs": len(pairs), "model.users": len(per_user)}, fh)
    print(f"trained on {len(per_user)} users: {len(popular)} popular tracks, {len(pairs)} pairs", file=sys.stderr)


if __name__ == "__main__":
    main()
