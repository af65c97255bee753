"""Identity-resolution benchmark: cdp against Splink 5 and a naive baseline (GitHub issue #3).

Run `python -m bench.identity --help`. Modules that run inside the helper venvs (generators, the Splink engine)
import only the standard library from this package, so they work with any interpreter.
"""
