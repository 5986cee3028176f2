"""What operators run: the API and page processes, the health probe, the config template."""
