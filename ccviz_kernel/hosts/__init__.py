"""Places the server core runs: standalone, the Jupyter server, the kernel."""
