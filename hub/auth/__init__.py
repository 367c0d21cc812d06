"""Tokens: the embedded issuer, verification, and the Principal they yield."""
