"""Peers' loss code vendored unchanged (each with its license header) and the stubs that import it."""
