# Augmenting declarations for the optional compiled core (services/fastcore): ignored by
# plain Python; Cython compiles translate.py's Translator as an extension type with these fields.
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
