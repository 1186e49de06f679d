"""Nippo: the pure core (domain, parsing, dialog, texts), the services, the composition root."""
