# syntax=docker/dockerfile:1
# All-stage worker on CPU (LAYOUT=single's smart variant; deploy's single_cpu stage):
# preprocess, inference and postprocess in one Runpod job, as docker/single.Dockerfile, with
# BACKEND=onnx: ONNX Runtime on the model exported to ONNX at build time. No torch, no
# transformers, no CUDA. The orchestrator sends it the short texts of /classify-smart; it is
# also callable from the console or /runsync with {"input": {"text": "..."}}.
# Build context: the repository root.
#   docker buildx build --platform linux/amd64 -f docker/single-cpu.Dockerfile \
#     --build-arg MODEL_ID=... --build-arg MODEL_REVISION=... \
#     --secret id=HF_TOKEN,env=HF_TOKEN -t sentiment-single-cpu .
# MODEL_ID/MODEL_REVISION must be the single (GPU) image's: both endpoints answer alike.

# Where the model comes from (MODEL_SOURCE): "hub" (the default) downloads MODEL_ID at
# MODEL_REVISION in the model stage and exports it to model.onnx. "context" takes a local
# model directory instead, offline: its files in the build context's .cache/image-model/, and
# MODEL_ID=/opt/hf-home/local-model (`make images` builds so with the tiny test model; see
# "Images" in README.md). Here the directory must already hold model.onnx
# (`python -m scripts.export_onnx DIR`): a "context" build installs no torch.
ARG MODEL_SOURCE=hub

# --- builder: a virtualenv with exactly single_worker/requirements-cpu.txt ----------------
# That file includes the CPU inference worker's requirements file, at its repository path.
FROM python:3.11.17-slim-bookworm AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
COPY single_worker/requirements-cpu.txt /tmp/req/single_worker/
COPY inference_worker/requirements-cpu.txt /tmp/req/inference_worker/
RUN /opt/venv/bin/pip install --no-cache-dir -r /tmp/req/single_worker/requirements-cpu.txt

# --- model: the model exported to model.onnx in a Hugging Face cache ---------------------
# As docker/inference-cpu.Dockerfile's: a throwaway stage with its own virtualenv, where torch
# and transformers load the model once and export it; only the cache (tokenizer files,
# config.json, model.onnx; the weights dropped) reaches the image. HF_TOKEN is an optional
# build secret: mounted for this RUN only, never written to a layer.
FROM python:3.11.17-slim-bookworm AS model-hub
ARG MODEL_ID=distilbert/distilbert-base-uncased-finetuned-sst-2-english
ARG MODEL_REVISION=main
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HF_HOME=/opt/hf-home \
    HF_HUB_DISABLE_TELEMETRY=1 \
    MODEL_ID=${MODEL_ID} \
    MODEL_REVISION=${MODEL_REVISION}
RUN python -m venv /opt/export-venv
COPY inference_worker/requirements.txt /tmp/requirements.txt
COPY scripts/export_onnx_requirements.txt /tmp/export_onnx_requirements.txt
RUN /opt/export-venv/bin/pip install --no-cache-dir \
    -r /tmp/requirements.txt -r /tmp/export_onnx_requirements.txt
WORKDIR /build
COPY contracts/ /build/contracts/
COPY worker_runtime/__init__.py worker_runtime/model_files.py /build/worker_runtime/
COPY scripts/__init__.py scripts/prepare_model.py scripts/export_onnx.py /build/scripts/
RUN --mount=type=secret,id=HF_TOKEN,env=HF_TOKEN \
    /opt/export-venv/bin/python -m scripts.export_onnx --prepared --drop-weights \
    && rm -rf /opt/hf-home/xet /opt/hf-home/hub/.locks

# --- model-context: a local model directory, already exported to model.onnx -------------
FROM builder AS model-context
COPY .cache/image-model/ /opt/hf-home/local-model/
# model.onnx holds the weights: the image serves it alone, as a hub build's does.
RUN rm -f /opt/hf-home/local-model/*.safetensors

# hadolint reads a stage chosen by a build argument as an image without a tag.
# hadolint ignore=DL3006
FROM model-${MODEL_SOURCE} AS model

# --- runtime -----------------------------------------------------------------------------
FROM python:3.11.17-slim-bookworm
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
    MODEL_REVISION=${MODEL_REVISION} \
    BACKEND=onnx
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --create-home --home-dir /home/app app
COPY --from=builder /opt/venv /opt/venv
COPY --from=model --chown=10001:10001 /opt/hf-home /opt/hf-home
COPY contracts/ /app/contracts/
COPY worker_runtime/ /app/worker_runtime/
COPY preprocess_worker/ /app/preprocess_worker/
# The ONNX Runtime backend and the worker's handler; its torch backend is never imported.
COPY inference_worker/ /app/inference_worker/
COPY postprocess_worker/ /app/postprocess_worker/
# The pipeline that runs the three stages in one job (no web server is started).
COPY orchestrator/ /app/orchestrator/
COPY single_worker/ /app/single_worker/
WORKDIR /app/single_worker
USER 10001:10001
CMD ["python", "-u", "handler.py"]
