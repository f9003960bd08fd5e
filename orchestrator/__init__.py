"""The orchestrator: validates requests and calls the three stage endpoints over Runpod's API."""
