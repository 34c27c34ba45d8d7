"""Which variant runs on a given GPU and driver (`ptkit select`)."""
