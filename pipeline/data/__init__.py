"""Labeled sentences: loading, checking, splitting articles into sentences, the records input."""
