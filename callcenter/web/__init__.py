"""Layout templates, static assets and what every page and route shares."""
