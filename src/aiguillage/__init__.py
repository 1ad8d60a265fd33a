"""aiguillage: a self-hosted, OpenAI-compatible AI gateway that sends each request to the
smallest model that can do the job, inside the tenant's data-sovereignty policy."""

__version__ = "0.1.0"
