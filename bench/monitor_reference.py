"""pandas + SciPy doing what the mlops monitor does, for bench/monitor.ts: read the capture
JSONL, then per feature a two-sample KS test against the baseline sample and PSI on the
baseline's bins, plus KS on the positive-class score; Bonferroni at 0.05 with the same gates.
Prints one JSON line: seconds, rows, peak RSS (MB), drifted features."""
import glob, json, os, resource, sys, time

import numpy as np
import pandas as pd
from scipy import stats

data, baseline_path = sys.argv[1], sys.argv[2]
start = time.perf_counter()
files = sorted(glob.glob(os.path.join(data, "capture", "**", "*.jsonl"), recursive=True))
frame = pd.concat([pd.read_json(f, lines=True) for f in files], ignore_index=True)
features = pd.json_normalize(frame["features"])
scores = np.array([p["probabilities"][1] for p in frame["prediction"]])
baseline = json.load(open(baseline_path))
tests = len(baseline["features"]) + 1
drifted = []
for profile in baseline["features"]:
    current = features[profile["name"]].dropna().to_numpy()
    sample = np.array(profile["sample"])
    p = stats.ks_2samp(sample, current).pvalue
    edges = np.array(profile["binEdges"])
    base_share = np.array(profile["binShares"])
    cur_share = np.bincount(np.searchsorted(edges, current, side="right"), minlength=len(base_share)) / len(current)
    eps = 1e-4
    psi = float(np.sum((np.maximum(cur_share, eps) - np.maximum(base_share, eps)) * np.log(np.maximum(cur_share, eps) / np.maximum(base_share, eps))))
    w = stats.wasserstein_distance(sample, current) / (profile["std"] or 1)
    if min(p * tests, 1) < 0.05 and (psi >= 0.1 or w >= 0.1):
        drifted.append(profile["name"])
stats.ks_2samp(np.array(baseline["prediction"]["score"]["sample"]), scores)
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "rows": int(len(frame)), "maxRssMb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "drifted": drifted}))
