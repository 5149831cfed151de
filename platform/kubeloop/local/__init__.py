"""Local mode processes: model servers and the gateway started on loopback, recorded under state_dir."""
