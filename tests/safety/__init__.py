"""Issue #15: the safety net — alerts that escalate until someone acts, crisis alerts."""
