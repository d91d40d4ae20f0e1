"""What every stage shares: errors, atomic writes, text and file reading, config plumbing."""
