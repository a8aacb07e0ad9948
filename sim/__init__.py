"""scoutsim: event-driven simulator of edge-cloud LLM protocols on real network traces."""
