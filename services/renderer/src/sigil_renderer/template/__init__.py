"""A Python implementation of Go's text/template, as Distr uses it (missingkey=error)."""
