# syntax=docker/dockerfile:1
# All-stage worker (LAYOUT=single, GPU): preprocess, inference (torch) and postprocess in one
# Runpod job, callable from the console or /runsync with {"input": {"text": "..."}}. It holds
# no model.onnx: its CPU twin (BACKEND=onnx, no torch) is docker/single-cpu.Dockerfile.
# Build context: the repository root.
#   docker buildx build --platform linux/amd64 -f docker/single.Dockerfile \
#     --build-arg MODEL_ID=... --build-arg MODEL_REVISION=... \
#     --secret id=HF_TOKEN,env=HF_TOKEN -t sentiment-single .
# PyPI's torch==2.13.0 for linux x86_64 is the CUDA 13.0 build and brings its own CUDA
# libraries as wheels, so the "base" CUDA image (driver hooks, no toolkit) is enough. It
# needs an NVIDIA driver that supports CUDA 13.0 (R580 or newer) on the host. The whole
# model is downloaded at build time and the worker runs with HF_HUB_OFFLINE=1.

# Where the model comes from (MODEL_SOURCE): "hub" (the default) downloads MODEL_ID at
# MODEL_REVISION in the model stage. "context" takes a local model directory instead, offline:
# its files in the build context's .cache/image-model/, and MODEL_ID=/opt/hf-home/local-model
# (`make images` builds so with the tiny test model; see "Images" in README.md).
ARG MODEL_SOURCE=hub

# --- python: CUDA base + Ubuntu 22.04's Python 3.11 -------------------------------------
FROM nvidia/cuda:13.0.3-base-ubuntu22.04 AS python
ENV DEBIAN_FRONTEND=noninteractive
# Ubuntu's archive drops superseded package versions, so exact apt pins would break every
# rebuild after a security update; the base image tag is pinned instead.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3.11 ca-certificates \
    && rm -rf /var/lib/apt/lists/*

# --- builder: a virtualenv with exactly single_worker/requirements.txt -------------------
FROM python AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
# Same reason as above: unpinned apt versions, pinned base image.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3.11-venv \
    && rm -rf /var/lib/apt/lists/*
RUN python3.11 -m venv /opt/venv
COPY single_worker/requirements.txt /tmp/requirements.txt
RUN /opt/venv/bin/pip install --no-cache-dir -r /tmp/requirements.txt

# --- model source: nothing for a hub build, the local model for a "context" one -----------
# Only the stage MODEL_SOURCE names is built, so a hub build never reads .cache/.
FROM scratch AS model-source-hub
WORKDIR /opt/hf-home
FROM scratch AS model-source-context
COPY .cache/image-model/ /opt/hf-home/local-model/
# hadolint reads a stage chosen by a build argument as an image without a tag.
# hadolint ignore=DL3006
FROM model-source-${MODEL_SOURCE} AS model-source

# --- model: the whole model in a Hugging Face cache --------------------------------------
# Depends on contracts/, worker_runtime/model_files.py and the requirements only, so a worker
# code change does not download again. HF_TOKEN is an optional build secret: mounted for this
# RUN only, never written to a layer.
FROM builder AS model
ARG MODEL_ID=distilbert/distilbert-base-uncased-finetuned-sst-2-english
ARG MODEL_REVISION=main
ENV HF_HOME=/opt/hf-home \
    HF_HUB_DISABLE_TELEMETRY=1 \
    MODEL_ID=${MODEL_ID} \
    MODEL_REVISION=${MODEL_REVISION}
WORKDIR /build
COPY contracts/ /build/contracts/
COPY worker_runtime/__init__.py worker_runtime/model_files.py /build/worker_runtime/
COPY scripts/__init__.py scripts/prepare_model.py /build/scripts/
COPY --from=model-source /opt/hf-home/ /opt/hf-home/
RUN --mount=type=secret,id=HF_TOKEN,env=HF_TOKEN \
    /opt/venv/bin/python -m scripts.prepare_model --files all \
    && rm -rf /opt/hf-home/xet /opt/hf-home/hub/.locks

# --- runtime -----------------------------------------------------------------------------
FROM python
ARG MODEL_ID=distilbert/distilbert-base-uncased-finetuned-sst-2-english
ARG MODEL_REVISION=main
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    RUNPOD_LOG_LEVEL=INFO \
    HF_HOME=/opt/hf-home \
    HF_HUB_OFFLINE=1 \
    HF_HUB_DISABLE_TELEMETRY=1 \
    MODEL_ID=${MODEL_ID} \
    MODEL_REVISION=${MODEL_REVISION}
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --create-home --home-dir /home/app app
COPY --from=builder /opt/venv /opt/venv
COPY --from=model --chown=10001:10001 /opt/hf-home /opt/hf-home
COPY contracts/ /app/contracts/
COPY worker_runtime/ /app/worker_runtime/
COPY preprocess_worker/ /app/preprocess_worker/
COPY inference_worker/ /app/inference_worker/
COPY postprocess_worker/ /app/postprocess_worker/
# The pipeline that runs the three stages in one job (no web server is started).
COPY orchestrator/ /app/orchestrator/
COPY single_worker/ /app/single_worker/
WORKDIR /app/single_worker
USER 10001:10001
CMD ["python", "-u", "handler.py"]
