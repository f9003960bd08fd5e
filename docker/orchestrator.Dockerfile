# syntax=docker/dockerfile:1
# Orchestrator (CPU): the public HTTP API that chains the three Runpod endpoints.
# FastAPI + httpx + uvicorn only. Serves on $PORT (default 8888) with GET /ping, so it
# also runs as a Runpod load-balancing endpoint.
# Build context: the repository root.
#   docker buildx build --platform linux/amd64 -f docker/orchestrator.Dockerfile \
#     -t sentiment-orchestrator .

# --- builder: a virtualenv with exactly orchestrator/requirements.txt --------------------
FROM python:3.11.17-slim-bookworm AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
COPY orchestrator/requirements.txt /tmp/requirements.txt
RUN /opt/venv/bin/pip install --no-cache-dir -r /tmp/requirements.txt

# --- runtime -----------------------------------------------------------------------------
FROM python:3.11.17-slim-bookworm
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    RUNPOD_LOG_LEVEL=INFO \
    HOST=0.0.0.0 \
    PORT=8888
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --create-home --home-dir /home/app app
COPY --from=builder /opt/venv /opt/venv
COPY contracts/ /app/contracts/
COPY orchestrator/ /app/orchestrator/
WORKDIR /app
USER 10001:10001
EXPOSE 8888
# Python's standard library only: the image has no curl or wget.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '8888') + '/ping', timeout=4)"]
CMD ["python", "-m", "orchestrator"]
