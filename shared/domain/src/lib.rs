//! Pure scheduling domain: ids, validated values, the appointment and saga state machines.
//!
//! No I/O and no async here: every function takes what it needs (including "now") as an
//! argument, so the rules can be tested as given(events) / when(command) / then(events).

pub mod appointment;
pub mod appointment_type;
pub mod call;
pub mod clinic;
pub mod ids;
pub mod insurance;
pub mod metrics;
pub mod saga;
pub mod values;

pub use appointment::{
    Appointment, AppointmentCommand, AppointmentEvent, AppointmentStatus, DomainError,
};
pub use appointment_type::AppointmentType;
pub use ids::*;
