"""Identity resolution: normalization, blocking, scoring, merge and unmerge."""
