"""Tests against a real Docker engine: the image under test (`--image`, or built here), builds, a registry."""
