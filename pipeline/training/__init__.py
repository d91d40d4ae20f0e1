"""The training stage: config to objects, evaluation protocols, fit and save."""
