# Augmenting declarations for the optional compiled core (services/fastcore): ignored by
# plain Python; Cython compiles orderbook.py's classes as extension types with these fields.
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
