"""The ArbSR dock (runs arbsr:upscale as background Processing tasks)."""
