"""Postprocess stage (CPU): aggregate window predictions and format one result per text."""
