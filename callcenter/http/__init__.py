"""The request boundary shared by every domain's views: what a request can reach (the
settings, its unit of work, the signed-in user), who the client is, the headers every
response carries, and the health check. Domains' HTTP modules import it; their services
and models never do (tests/test_layering.py)."""
