"""I/O adapters: Prometheus, the services' HTTP APIs, Kafka, processes."""
