"""Model-side data: architectures, payload sizes, device profiles, quality cache."""
