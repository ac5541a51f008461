"""The specification: one module per loss family."""
