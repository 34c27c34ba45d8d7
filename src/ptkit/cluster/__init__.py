"""Host side, beyond one machine: the jobs that run `verify --distributed` across nodes (Docker
containers on one network, Slurm, Kubernetes) and the CI workflow that builds every variant."""
