"""ptkit: reproducible PyTorch environments.

Data flows one way, one module per step:
    matrix (matrix.py) -> render/build (render.py, build.py) -> container (container.py)
    -> verify (verify/, runs inside the container) -> report (report.py)
"""

__version__ = "0.1.0"
