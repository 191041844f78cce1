"""The ArbSR Processing algorithms (one module each; explicit list in the provider)."""
