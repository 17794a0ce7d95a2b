//! Appointment routes: book (`book`, write side, 202 + saga), list and read (`read`, the read
//! model), cancel and complete (`commands`, write side). Each answer that carries patient data
//! is recorded in the access audit (`store::audit`).

pub mod book;
pub mod commands;
pub mod read;
