# One image for the predict and consume services (and the volctl CLI); see compose.yaml.
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 VOLCTL_STATE_DIR=/data
COPY pyproject.toml README.md ./
COPY volctl ./volctl
COPY services ./services
COPY templates ./templates
COPY runbooks ./runbooks
RUN pip install .
EXPOSE 8000 8001
CMD ["python", "-m", "services.predict"]
