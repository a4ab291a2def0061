"""Command-line entry points: demo branch, simulator, provisioning, device tools."""
