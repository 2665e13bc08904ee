"""Reads a /metrics text on stdin; prints the scheduler lag p50 and p99 in ms (linear
interpolation inside the histogram's buckets, as Prometheus' histogram_quantile does).
With a file of an earlier /metrics text of the same process as argument: of the runs between
the two (each bucket's increase, as Prometheus' increase() before histogram_quantile)."""
import sys


def read(lines):
    buckets = []
    for line in lines:
        if line.startswith("ewsprobe_scheduler_lag_seconds_bucket"):
            le = line.split('le="')[1].split('"')[0]
            buckets.append((float("inf") if le == "+Inf" else float(le), float(line.split()[-1])))
    return buckets


buckets = read(sys.stdin)
if len(sys.argv) > 1:
    with open(sys.argv[1]) as earlier:
        before = dict(read(earlier))
    buckets = [(le, count - before.get(le, 0.0)) for le, count in buckets]
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
