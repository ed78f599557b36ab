"""Candidate evaluation: datasets, training, efficiency metrics, multi-fidelity, final training, export."""
