"""What the client processes recorded, turned into counts, latencies and rates."""

import math
from collections import Counter

from bench.driver import Change

PERCENTILES = (("p50", 50), ("p95", 95), ("p99", 99), ("max", 100))


def percentile(sorted_values: list[float], p: float) -> float | None:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return None
    return sorted_values[max(0, math.ceil(p / 100 * len(sorted_values)) - 1)]


def summarise(plan: list[list[str]], changes: list[Change], ready: list[dict], results: list[dict]) -> dict:
    """Counts, latencies and rates from what the client processes recorded."""
    established = {n for result in results for n in result["established"]}
    sent = {change.seq: change for change in changes if change.error is None}
    per_submission = Counter(change.submission_id for change in sent.values())
    expected = sum(per_submission[s] for n in established for s in plan[n])

    delivered, misrouted, duplicates, unconfirmed = 0, 0, 0, 0
    latencies, last_receipt, seen = [], 0.0, set()
    for result in results:
        for connection, submission_id, seq, received_at in result["records"]:
            change = sent.get(seq)
            if change is None:
                unconfirmed += 1  # its POST failed, though the change may have been committed
            elif submission_id != change.submission_id:
                misrouted += 1
            elif (connection, seq) in seen:
                duplicates += 1
            else:
                seen.add((connection, seq))
                delivered += 1
                latencies.append(received_at - change.sent_at)
                last_receipt = max(last_receipt, received_at)
    latencies.sort()
    subscribers = Counter(submission_id for n in established for submission_id in plan[n])
    missing = Counter({seq: subscribers[change.submission_id] for seq, change in sent.items()})
    missing.subtract(Counter(seq for _, seq in seen))
    posts = sorted(change.duration_s for change in sent.values())
    first_sent = min((change.sent_at for change in sent.values()), default=None)
    window = last_receipt - first_sent if first_sent is not None and delivered else None
    started = min(report["started_at"] for report in ready)
    last_ready = max(report["last_ready_at"] for report in ready)
    failed_to_connect = sum((Counter(report["failures"]) for report in ready), Counter())

    return {
        "connections_requested": len(plan),
        "connections": len(established),
        "subscriptions": sum(len(plan[n]) for n in established),
        "setup_s": round(last_ready - started, 3) if last_ready else None,
        "connect_failures": dict(failed_to_connect),
        "drops": dict(sum((Counter(result["drops"]) for result in results), Counter())),
        "changes_sent": len(changes),
        "changes_per_s": _rate(changes),
        "changes_failed": [change.error for change in changes if change.error][:5],
        "change_post_ms": {name: _ms(posts, p) for name, p in PERCENTILES},
        "expected": expected,
        "delivered": delivered,
        "lost": expected - delivered,
        "misrouted": misrouted,
        # The changes most often lost, with the version each made: lost in
        # runs hints at a stall, lost singly at reordering or a gap.
        "most_lost": [
            {"seq": seq, "version": sent[seq].version, "lost": count} for seq, count in missing.most_common(10) if count
        ],
        "committed_out_of_send_order": _out_of_order(sent.values()),
        "duplicates": duplicates,
        "unconfirmed": unconfirmed,
        "latency_ms": {name: _ms(latencies, p) for name, p in PERCENTILES},
        "delivery_window_s": round(window, 3) if window else None,
        "deliveries_per_s": round(delivered / window) if window else None,
        "client_cpu_s": round(sum(result["cpu_s"] for result in results), 3),
    }


def _ms(sorted_seconds: list[float], p: float) -> float | None:
    value = percentile(sorted_seconds, p)
    return None if value is None else round(1000 * value, 1)


def _out_of_order(changes) -> int:
    """Changes whose version is lower than that of a change sent before them to the same submission."""
    highest: dict[str, int] = {}
    count = 0
    for change in sorted(changes, key=lambda change: change.sent_at):
        if change.version is not None and change.version < highest.get(change.submission_id, 0):
            count += 1
        highest[change.submission_id] = max(highest.get(change.submission_id, 0), change.version or 0)
    return count


def _rate(changes: list[Change]) -> float | None:
    """The pace the changes were actually sent at (it slips when the server answers slowly)."""
    if len(changes) < 2:
        return None
    times = sorted(change.sent_at for change in changes)
    return round((len(times) - 1) / (times[-1] - times[0]), 1) if times[-1] > times[0] else None
