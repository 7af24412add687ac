# Augmenting declarations for the compiled core (services/compiled/build.py; docs/COMPILED_CORE.md),
# copied beside the source in the build's own temporary tree only (plain Python never sees it);
# Cython compiles the classes below as extension types with these typed fields.
cdef class Translator:
    cdef public object sink
    cdef public object strict
    cdef public dict counters
    cdef public dict instruments
    cdef public dict ticks
    cdef public dict dirty
    cdef public dict venue_top
    cdef public dict last_trade
    cdef public set resolved
    cdef public object new_market_hints
    cdef public dict _market_tokens
    cdef public dict _px
    cdef public dict _sizes
    cdef public dict _grids
    cdef public dict _handlers
    # As in Python (the .py class has no __slots__): attributes it does not declare (a plugin's)
    # and weak references still work.
    cdef dict __dict__
    cdef object __weakref__
