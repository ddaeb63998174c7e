"""The Prometheus endpoint (`[metrics] listen = "127.0.0.1:9464"`): what a pass did, counted.

deadlinewatch_passes_total, deadlinewatch_pass_seconds, deadlinewatch_stage_seconds{stage},
deadlinewatch_notes_total{outcome}, deadlinewatch_messages_sent_total{audience},
deadlinewatch_messages_failed_total, deadlinewatch_milestones_at_risk, deadlinewatch_server_errors_total{server},
deadlinewatch_inbox_failing (messages waiting in the inbox after a failed attempt: an inbox not keeping up).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from deadlinewatch.adapters.store import StorePort
from deadlinewatch.services import PassReport


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.passes = Counter("deadlinewatch_passes", "passes run", registry=r)
        buckets = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
        self.duration = Histogram("deadlinewatch_pass_seconds", "how long an evaluation pass took", registry=r,
                                  buckets=buckets)
        self.stage_duration = Histogram("deadlinewatch_stage_seconds", "how long a worker's run took", ["stage"],
                                        registry=r, buckets=buckets)
        self.notes = Counter("deadlinewatch_notes", "messages taken from the inbox, by outcome", ["outcome"],
                             registry=r)
        self.sent = Counter("deadlinewatch_messages_sent", "messages sent, by audience", ["audience"], registry=r)
        self.failed = Counter("deadlinewatch_messages_failed", "messages refused for good", registry=r)
        self.at_risk = Gauge("deadlinewatch_milestones_at_risk", "open milestones forecast to miss", registry=r)
        self.server_errors = Counter("deadlinewatch_server_errors", "passes a server was unavailable or refused",
                                     ["server"], registry=r)
        self.inbox_failing = Gauge("deadlinewatch_inbox_failing", "messages left in the inbox after a failed attempt",
                                   registry=r)
        self._seen_notes: dict[str, int] = {}

    def serve(self, listen: str) -> None:
        host, _, port = listen.rpartition(":")
        start_http_server(int(port), addr=host.strip("[]") or "127.0.0.1", registry=self.registry)

    def record(self, stage: str, report: PassReport, seconds: float, store: StorePort, warn_probability: float) -> None:
        """One run of a worker (workers.py). A pass is one run of the evaluator; what was read and sent is
        counted from whichever worker did it."""
        self.stage_duration.labels(stage).observe(seconds)
        for server in [*report.unavailable, *report.refused]:
            self.server_errors.labels(server).inc()
        for item_id in report.sent:
            item = store.outbox_item(item_id)
            if item is not None:
                self.sent.labels(item.audience).inc()
        self.failed.inc(sum(1 for p in report.problems if "refused by the SMTP server" in p))
        if stage == "inbox":
            counts = store.note_count()
            for outcome, n in counts.items():
                grown = n - self._seen_notes.get(outcome, n if not self._seen_notes else 0)
                if grown > 0:
                    self.notes.labels(outcome).inc(grown)
            self._seen_notes = counts
            self.inbox_failing.set(len(store.failing_messages()))
        if stage == "evaluator":
            self.passes.inc()
            self.duration.observe(seconds)
            self.at_risk.set(store.at_risk(warn_probability))
