"""Reproducibility: image manifests, `ptkit diff`, fingerprints, SBOMs and conda spec checks (host side)."""
