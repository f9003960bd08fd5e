# syntax=docker/dockerfile:1
# Postprocess worker (CPU): turns scores into labelled results. No model, no ML library.
# Build context: the repository root.
#   docker buildx build --platform linux/amd64 -f docker/postprocess.Dockerfile \
#     -t sentiment-postprocess .

# --- builder: a virtualenv with exactly postprocess_worker/requirements.txt --------------
FROM python:3.11.17-slim-bookworm AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
COPY postprocess_worker/requirements.txt /tmp/requirements.txt
RUN /opt/venv/bin/pip install --no-cache-dir -r /tmp/requirements.txt

# --- runtime -----------------------------------------------------------------------------
FROM python:3.11.17-slim-bookworm
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    RUNPOD_LOG_LEVEL=INFO
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --create-home --home-dir /home/app app
COPY --from=builder /opt/venv /opt/venv
COPY contracts/ /app/contracts/
COPY worker_runtime/ /app/worker_runtime/
COPY postprocess_worker/ /app/postprocess_worker/
WORKDIR /app/postprocess_worker
USER 10001:10001
CMD ["python", "-u", "handler.py"]
