"""Preprocess stage (CPU): validate, clean, count and split text into model-sized windows."""
