//! Integration tests live in `it/` (one binary); this library is empty on purpose.
