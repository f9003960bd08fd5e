# syntax=docker/dockerfile:1
# Inference worker (CPU): the same worker code with BACKEND=onnx, ONNX Runtime on the model
# exported to ONNX at build time. No torch, no transformers, no CUDA.
# Build context: the repository root.
#   docker buildx build --platform linux/amd64 -f docker/inference-cpu.Dockerfile \
#     --build-arg MODEL_ID=... --build-arg MODEL_REVISION=... \
#     --secret id=HF_TOKEN,env=HF_TOKEN -t sentiment-inference-cpu .
# The image carries the model's tokenizer files, config.json and model.onnx, exported from the
# same MODEL_ID/MODEL_REVISION as the GPU image's weights, and runs with HF_HUB_OFFLINE=1.

# Where the model comes from (MODEL_SOURCE): "hub" (the default) downloads MODEL_ID at
# MODEL_REVISION in the model stage. "context" takes a local model directory instead, offline:
# its files in the build context's .cache/image-model/, and MODEL_ID=/opt/hf-home/local-model
# (`make images` builds so with the tiny test model; see "Images" in README.md). Here the
# directory must already hold model.onnx (`python -m scripts.export_onnx DIR`): a "context"
# build installs no torch.
ARG MODEL_SOURCE=hub

# --- builder: a virtualenv with exactly inference_worker/requirements-cpu.txt -------------
FROM python:3.11.17-slim-bookworm AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
COPY inference_worker/requirements-cpu.txt /tmp/requirements.txt
RUN /opt/venv/bin/pip install --no-cache-dir -r /tmp/requirements.txt

# --- model: the model exported to model.onnx in a Hugging Face cache ---------------------
# A throwaway stage with its own virtualenv: torch and transformers load the model once and
# export it; only the cache (tokenizer files, config.json, model.onnx; the weights dropped)
# reaches the image. HF_TOKEN is an optional build secret: mounted for this RUN only, never
# written to a layer.
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
# Runpod's local test mode input (`python handler.py`) for the baked model: the real
# preprocess code windows a sample text with the baked tokenizer, as the orchestrator sends
# it. Only this throwaway stage holds the preprocess code.
COPY scripts/write_test_input.py /build/scripts/
COPY worker_runtime/ /build/worker_runtime/
COPY preprocess_worker/ /build/preprocess_worker/
RUN HF_HUB_OFFLINE=1 /opt/export-venv/bin/python -m scripts.write_test_input /build/test_input.json

# --- model-context: a local model directory, already exported to model.onnx -------------
# The same cache layout and test input as model-hub, made with the runtime's own virtualenv.
FROM builder AS model-context
ARG MODEL_ID=/opt/hf-home/local-model
ENV HF_HOME=/opt/hf-home \
    HF_HUB_OFFLINE=1 \
    MODEL_ID=${MODEL_ID}
WORKDIR /build
COPY .cache/image-model/ /opt/hf-home/local-model/
COPY contracts/ /build/contracts/
COPY scripts/__init__.py scripts/prepare_model.py scripts/write_test_input.py /build/scripts/
COPY worker_runtime/ /build/worker_runtime/
COPY preprocess_worker/ /build/preprocess_worker/
# model.onnx holds the weights: the image serves it alone, as a hub build's does.
RUN rm -f /opt/hf-home/local-model/*.safetensors \
    && /opt/venv/bin/python -m scripts.write_test_input /build/test_input.json

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
COPY --from=model /build/test_input.json /app/inference_worker/test_input.json
COPY contracts/ /app/contracts/
COPY worker_runtime/ /app/worker_runtime/
COPY inference_worker/ /app/inference_worker/
WORKDIR /app/inference_worker
USER 10001:10001
CMD ["python", "-u", "handler.py"]
