"""Front doors and delivery: LINE, Slack, the console; the HTTP app."""
