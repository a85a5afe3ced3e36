"""The compute worker: turns figure specifications into artifacts (statistics, figure, provenance).

torch and transformer_lens are imported only inside this package, and only by the modules that
need them (never by this file or `errors`), so the web process can import the exception types
without pulling in torch.
"""
