"""Train one recommendation variant from a day's plays (weir command job).

  python3 train_variant.py popularity|cooc

WEIR_INPUT_PLAYS holds plays_by_track (JSON lines: user_id, track_id,
plays). Writes reco.json (track → recommended tracks) and the model card
model.json into WEIR_OUTPUT. Deterministic: the same plays, the same bytes.
"""
import json
import os
import sys
from collections import defaultdict
from itertools import combinations
from pathlib import Path


def rows():
    for d in filter(None, os.environ.get("WEIR_INPUT_PLAYS", "").split(":")):
        for f in sorted(Path(d).glob("*.jsonl")):
            with open(f, encoding="utf-8") as fh:
                for line in fh:
                    if line.strip():
                        yield json.loads(line)


def main():
    variant = sys.argv[1]
    plays = defaultdict(int)
    per_user = defaultdict(set)
    for r in rows():
        plays[r["track_id"]] += int(r["plays"])
        per_user[r["user_id"]].add(r["track_id"])
    top = sorted(plays, key=lambda t: (-plays[t], t))[:20]
    if variant == "popularity":
        reco = {t: top for t in sorted(plays)}
        pairs = 0
    else:
        together = defaultdict(int)
        for tracks in per_user.values():
            for a, b in combinations(sorted(tracks), 2):
                together[(a, b)] += 1
        near = defaultdict(list)
        for (a, b), n in together.items():
            near[a].append((n, b))
            near[b].append((n, a))
        reco = {t: [b for _, b in sorted(near[t], key=lambda x: (-x[0], x[1]))[:20]] or top for t in sorted(plays)}
        pairs = len(together)
    out = Path(os.environ["WEIR_OUTPUT"])
    (out / "reco.json").write_text(json.dumps(reco, sort_keys=True), encoding="utf-8")
    card = {
        "framework": "python " + variant,
        "metrics": {"tracks": len(reco), "users": len(per_user), "pairs": pairs},
        "signature": {"inputs": ["track_id"], "outputs": ["track_id"]},
        "files": ["reco.json"],
    }
    (out / "model.json").write_text(json.dumps(card, sort_keys=True), encoding="utf-8")


if __name__ == "__main__":
    main()
