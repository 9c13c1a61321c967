"""What every request passes on its way in and out, apart from the controllers: the
middleware (`middleware`: shed load, time, count, add the hygiene headers), the header
policy (`hygiene`), load shedding (`overload`), Prometheus metrics for HTTP and the
domain (`httpmetrics`, `metrics`) shared across workers (`metrics_share`), and answers
sent as bare ASGI (`answer`)."""
