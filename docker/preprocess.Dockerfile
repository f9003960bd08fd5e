# syntax=docker/dockerfile:1
# Preprocess worker (CPU): cleans and tokenizes text. No torch, no transformers.
# Build context: the repository root.
#   docker buildx build --platform linux/amd64 -f docker/preprocess.Dockerfile \
#     --build-arg MODEL_ID=... --build-arg MODEL_REVISION=... \
#     --secret id=HF_TOKEN,env=HF_TOKEN -t sentiment-preprocess .
# The image carries the model's tokenizer files and config.json only (not the weights),
# with a tokenizer.json converted at build time when the model ships none.

# Where the model comes from (MODEL_SOURCE): "hub" (the default) downloads MODEL_ID at
# MODEL_REVISION in the model stage. "context" takes a local model directory instead, offline:
# its files in the build context's .cache/image-model/, and MODEL_ID=/opt/hf-home/local-model
# (`make images` builds so with the tiny test model; see "Images" in README.md).
ARG MODEL_SOURCE=hub

# --- builder: a virtualenv with exactly preprocess_worker/requirements.txt ---------------
FROM python:3.11.17-slim-bookworm AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
COPY preprocess_worker/requirements.txt /tmp/requirements.txt
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

# --- model: the tokenizer files in a Hugging Face cache ---------------------------------
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
# transformers only in this throwaway stage: it converts a model that ships no
# tokenizer.json (the default does not) the same way the inference worker loads it.
COPY scripts/prepare_model_requirements.txt /tmp/prepare_model_requirements.txt
RUN /opt/venv/bin/pip install --no-cache-dir -r /tmp/prepare_model_requirements.txt
COPY contracts/ /build/contracts/
COPY worker_runtime/__init__.py worker_runtime/model_files.py /build/worker_runtime/
COPY scripts/__init__.py scripts/prepare_model.py /build/scripts/
COPY --from=model-source /opt/hf-home/ /opt/hf-home/
RUN --mount=type=secret,id=HF_TOKEN,env=HF_TOKEN \
    /opt/venv/bin/python -m scripts.prepare_model --files tokenizer \
    && rm -rf /opt/hf-home/xet /opt/hf-home/hub/.locks

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
    MODEL_REVISION=${MODEL_REVISION}
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --create-home --home-dir /home/app app
COPY --from=builder /opt/venv /opt/venv
COPY --from=model --chown=10001:10001 /opt/hf-home /opt/hf-home
COPY contracts/ /app/contracts/
COPY worker_runtime/ /app/worker_runtime/
COPY preprocess_worker/ /app/preprocess_worker/
WORKDIR /app/preprocess_worker
USER 10001:10001
CMD ["python", "-u", "handler.py"]
