"""Native core of memcg-stress (Cython, nogil)."""
