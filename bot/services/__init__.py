"""Use cases: what happens when a member writes, a tick fires or staff act.

They run inside the caller's transaction over storage/ and call the pure core; they never
import a platform adapter (import-linter).
"""
