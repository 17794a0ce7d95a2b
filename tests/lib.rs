//! What the workspace's test binaries share: the API router on a test database with demo data
//! and tokens (`support`), and the whole local pipeline on its own broker (`stack`). The
//! integration tests are in `it/`, the fault suite in `fault/`.

pub mod stack;
pub mod support;
