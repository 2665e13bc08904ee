"""Reads a /metrics text on stdin; prints the scheduler lag p50 and p99 in ms (linear
interpolation inside the histogram's buckets, as Prometheus' histogram_quantile does)."""
import sys

buckets = []
for line in sys.stdin:
    if line.startswith("ewsprobe_scheduler_lag_seconds_bucket"):
        le = line.split('le="')[1].split('"')[0]
        buckets.append((float("inf") if le == "+Inf" else float(le), float(line.split()[-1])))
total = buckets[-1][1] if buckets else 0


def quantile(p):
    prev_le, prev_count = 0.0, 0.0
    for le, count in buckets:
        if total > 0 and count >= p * total:
            if le == float("inf"):
                return prev_le
            return prev_le + (le - prev_le) * ((p * total - prev_count) / max(count - prev_count, 1e-9))
        prev_le, prev_count = le, count
    return 0.0


print("%.1f %.1f" % (quantile(0.5) * 1000, quantile(0.99) * 1000))
