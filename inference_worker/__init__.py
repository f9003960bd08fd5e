"""Inference stage (GPU when present): a Hugging Face classifier over token windows, batched."""
