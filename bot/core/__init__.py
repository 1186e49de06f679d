"""The pure core: domain types, parsing, the dialog, policy and the rules as data.

No I/O, no ORM, no SDK: everything here is a function of its arguments (import-linter).
"""
