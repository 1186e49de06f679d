"""The composition root: settings, the web app, the demo and the operator's checks."""
