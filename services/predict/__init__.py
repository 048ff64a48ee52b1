"""The predict HTTP service: /predict /health /version /metrics, OpenAPI at /docs."""
