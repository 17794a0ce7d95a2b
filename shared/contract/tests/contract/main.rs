//! Integration tests of the contract crate, in one test binary: schema files, record
//! round trips, schema evolution against git history, and the registry against a real moto.

mod evolution;
mod registry;
mod round_trip;
mod samples;
mod schemas;
