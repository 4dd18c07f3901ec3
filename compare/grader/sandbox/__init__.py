"""The only code the worker loads (it is bound read-only into the sandbox): the wire
format, the worker's loop and the host that calls student code. Standard library
and NumPy only; imports within this folder are relative."""
