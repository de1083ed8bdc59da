"""Train a tiny recommendation model: popularity plus co-occurrence.

A weir command job. Its context (inputs, output directory, partition,
counters) comes from weir in WEIR_* variables, read here through the
weir_job helper beside this script (scripts/weir_job/):
  input "top"      top_tracks_28d (JSON lines)
  input "history"  user_tracks over 7 days (JSON lines)
  output           the model (reco.json) and its card (model.json)
Deterministic: the same inputs give the same bytes.
"""
import json
import sys
from collections import defaultdict
from itertools import combinations

import weir_job


def main():
    top = sorted(weir_job.rows("top"), key=lambda r: (-r["plays"], r["track_id"]))
    popular = [r["track_id"] for r in top]
    candidates = set(popular)
    per_user = defaultdict(set)
    for r in weir_job.rows("history"):
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
        "partition": weir_job.partition(),
        "popular": popular[:50],
        "similar": {
            t: [b for n, b in sorted(ns, key=lambda x: (-x[0], x[1]))[:10]]
            for t, ns in sorted(neighbours.items())
        },
    }
    out = weir_job.output()
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
    weir_job.counter("model.tracks", len(popular))
    weir_job.counter("model.pairs", len(pairs))
    weir_job.counter("model.users", len(per_user))
    print(f"trained on {len(per_user)} users: {len(popular)} popular tracks, {len(pairs)} pairs", file=sys.stderr)


if __name__ == "__main__":
    main()
