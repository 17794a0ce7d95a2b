//! The ESM runtime's tests, in one binary: the template reader, the payload, the HTTP invoker,
//! and the runtime against a real tansu broker (each test starts its own on a free port).

mod broker;
mod concurrency;
mod filter;
mod http_invoker;
mod payload;
mod runtime;
mod support;
mod template;
