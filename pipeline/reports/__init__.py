"""What people read: markdown and HTML reports, plots, explanations."""
