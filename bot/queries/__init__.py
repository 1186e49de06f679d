"""Read models for staff: the board, the month's compliance view, exports."""
