# flint's Python runtime client starts here; the client is _flint_bootstrap.py
# (kept out of this script so its bytecode comes from __pycache__ instead of
# being compiled on every cold start).
from _flint_bootstrap import main

main()
