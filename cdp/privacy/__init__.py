"""Privacy requests: access, erasure, restriction, rectification, objection, with deadlines and proof."""
