"""ptkit's tests: a package, so that `tests.utils` imports the same way from every test and from the
benchmarks (with the repository root on sys.path), and so that tests/conftest.py and
tests/docker/conftest.py are two distinct modules."""
