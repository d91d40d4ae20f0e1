"""How a sentence becomes numbers: TF-IDF unions, discourse context, sentence embeddings."""
