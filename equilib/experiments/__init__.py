"""Experiments: the presets of each page, and the sweeps that train what the run store lacks."""
