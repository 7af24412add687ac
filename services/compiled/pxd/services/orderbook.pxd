# Augmenting declarations for the compiled core (services/compiled/build.py; docs/COMPILED_CORE.md),
# copied beside the source in the build's own temporary tree only (plain Python never sees it);
# Cython compiles the classes below as extension types with these typed fields.
cdef class OrderBook:
    cdef public object instrument_id
    cdef public dict bids
    cdef public dict asks
    cdef public list _bid_px
    cdef public list _ask_px
    cdef public object ts
    cdef public object updates

cdef class BookStore:
    cdef public dict _books
    # As in Python (the .py class has no __slots__): attributes it does not declare (a plugin's)
    # and weak references still work.
    cdef dict __dict__
    cdef object __weakref__
