"""What the event path counts, for the Prometheus endpoint (api.metrics)."""

from prometheus_client import Counter, Gauge, Histogram

events_published = Counter(
    "submission_events_published_total", "Events this process sent to the channel layer, by type.", ["type"]
)
events_delivered = Counter(
    "submission_events_delivered_total", "Events this process handed to subscriptions (one per subscription)."
)
delivery_latency = Histogram(
    "submission_event_delivery_latency_seconds",
    "From a change to its delivery to the subscriptions of one document in this process (once per change).",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
subscriptions_active = Gauge("submission_subscriptions_active", "submissionStatus subscriptions open in this process.")
