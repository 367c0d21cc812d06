"""Operations: request ids, JSON logs, Prometheus metrics, OpenTelemetry traces, /health
and /ready. Nothing here ever records personal data, a query string or a token."""
