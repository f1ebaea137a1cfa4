"""Layout only: the templates and static files every page shares. Pages live in their
domain's views; the request boundary lives in `callcenter.http`."""
