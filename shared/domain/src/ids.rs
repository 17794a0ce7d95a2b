//! Typed identifiers: a `PatientId` can never be passed where an `AppointmentId` is expected.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh, time-ordered identifier (UUIDv7 keeps index inserts local).
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl From<Uuid> for $name {
            fn from(value: Uuid) -> Self {
                Self(value)
            }
        }

        impl From<$name> for Uuid {
            fn from(value: $name) -> Self {
                value.0
            }
        }
    };
}

id_type!(
    /// One eye-exam appointment (the aggregate id, and the Kafka key of its records).
    AppointmentId
);
id_type!(
    /// One booking saga; also the correlation id of every record the booking causes.
    SagaId
);
id_type!(
    /// A clinic of the call center's network.
    ClinicId
);
id_type!(
    /// An optometrist working at one clinic.
    ProviderId
);
id_type!(
    /// A patient known to the call center.
    PatientId
);
id_type!(
    /// A unique record: the idempotency key consumers deduplicate on.
    EventId
);
id_type!(
    /// One phone call handled by an agent.
    CallId
);
