"""Audio mixers and DSPs driven by line-based TCP command strings (Shure-style and generic)."""
