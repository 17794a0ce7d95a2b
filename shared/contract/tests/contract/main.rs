//! Integration tests of the contract crate, in one test binary: schema files, record
//! round trips, schema evolution against git history, the registry against a real moto, and
//! the checks of impossible values.

mod evolution;
mod registry;
mod round_trip;
mod samples;
mod schemas;
mod validation;
