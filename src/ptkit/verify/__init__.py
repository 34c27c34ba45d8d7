"""The in-container verifier: standard library and torch only.

Nothing here imports the rest of ptkit, so this folder can be copied into any image and run as
`python -m <folder> verify` (see ptkit.container).
"""
