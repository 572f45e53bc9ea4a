"""The harness's status page: a static HTML page polling ``/status.json``."""
