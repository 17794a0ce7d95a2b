//! What the workspace's test binaries share: the API router on a test database with demo data
//! and tokens (`support`), the whole local pipeline on its own broker (`stack`), and an in-memory
//! log writer (`capture`). The
//! integration tests are in `it/`, the fault suite in `fault/`.

pub mod capture;
pub mod stack;
pub mod support;
