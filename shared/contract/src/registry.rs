//! Client for the AWS Glue Schema Registry: registers the committed schemas once, then frames
//! and unframes records with everything it learned cached for the life of the process.
//!
//! Works against AWS Glue in the cloud and against a moto server locally (`AWS_ENDPOINT_URL`).

use apache_avro::Schema;
use aws_sdk_glue::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_glue::operation::get_schema_version::{GetSchemaVersionError, GetSchemaVersionOutput};
use aws_sdk_glue::types::{Compatibility, DataFormat, RegistryId, SchemaId, SchemaVersionStatus};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;
use uuid::Uuid;

use crate::datum::{decode_datum, encode_datum, ContractError};
use crate::frame::{frame, unframe, FrameError};
use crate::record::{record_info, Record, RecordInfo, ALL_RECORDS};
use crate::validate::Impossible;

const GET_SCHEMA_VERSION: &str = "GetSchemaVersion";

/// How long `register_all` waits for a new schema version to leave PENDING (Glue checks
/// compatibility asynchronously; it normally takes about a second).
const AVAILABILITY_DEADLINE: Duration = Duration::from_secs(60);
const FIRST_POLL: Duration = Duration::from_millis(100);
const MAX_POLL: Duration = Duration::from_secs(2);

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A schema-registry problem. See [`RegistryError::is_retryable`].
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{0:?} is not a record of the contract")]
    UnknownRecord(String),
    #[error("schema {name} has no version matching the committed schema in registry {registry}; run register_all")]
    NotRegistered {
        name: &'static str,
        registry: String,
    },
    #[error("schema version {0} does not exist in the registry")]
    UnknownVersion(Uuid),
    #[error("schema version {version_id} of {name} is {status}, not AVAILABLE")]
    VersionNotAvailable {
        name: &'static str,
        version_id: Uuid,
        status: String,
    },
    #[error("schema version {0} is not a valid Avro schema")]
    InvalidSchema(Uuid),
    #[error("registry {operation} answered without a valid {field}")]
    MalformedResponse {
        operation: &'static str,
        field: &'static str,
    },
    #[error("registry {operation} failed: {code}")]
    Call {
        operation: &'static str,
        /// The service's error code (e.g. `ThrottlingException`) or the kind of transport failure.
        code: String,
        retryable: bool,
        #[source]
        source: BoxError,
    },
}

impl RegistryError {
    /// Whether trying again later can succeed without anyone changing the request.
    ///
    /// Unreachable, throttled, failing or not-yet-ready registries are retryable, and so are
    /// permission errors (fixing IAM fixes them). Definite answers about the request (the
    /// version does not exist, the input is invalid) are not.
    pub fn is_retryable(&self) -> bool {
        match self {
            RegistryError::Call { retryable, .. } => *retryable,
            RegistryError::NotRegistered { .. } => true,
            RegistryError::VersionNotAvailable { status, .. } => status == "PENDING",
            RegistryError::MalformedResponse { .. } => true,
            RegistryError::UnknownRecord(_)
            | RegistryError::UnknownVersion(_)
            | RegistryError::InvalidSchema(_) => false,
        }
    }
}

/// Why a record could not be encoded.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error(transparent)]
    Datum(#[from] ContractError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

impl EncodeError {
    pub fn is_retryable(&self) -> bool {
        match self {
            EncodeError::Datum(_) => false,
            EncodeError::Registry(e) => e.is_retryable(),
        }
    }
}

/// Why a framed record could not be decoded. Messages never include the record's contents.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("not a readable Glue Schema Registry frame: {0}")]
    Frame(#[from] FrameError),
    #[error("schema version {0} is unknown to the schema registry")]
    UnknownSchemaVersion(Uuid),
    #[error("schema version {0} is not a usable Avro schema")]
    InvalidWriterSchema(Uuid),
    #[error(transparent)]
    Datum(#[from] ContractError),
    #[error("cannot fetch the writer schema: {0}")]
    Registry(#[source] RegistryError),
    /// The datum fits the schema but holds a value no producer writes (the field is named,
    /// its value is not).
    #[error("impossible record: {0}")]
    Impossible(#[from] Impossible),
}

impl DecodeError {
    /// `false` means the record itself is unreadable: send it to the dead-letter topic.
    /// `true` means the registry could not answer right now: retry the batch.
    pub fn is_retryable(&self) -> bool {
        match self {
            DecodeError::Frame(_)
            | DecodeError::UnknownSchemaVersion(_)
            | DecodeError::InvalidWriterSchema(_)
            | DecodeError::Datum(_)
            | DecodeError::Impossible(_) => false,
            DecodeError::Registry(e) => e.is_retryable(),
        }
    }
}

impl From<RegistryError> for DecodeError {
    fn from(e: RegistryError) -> Self {
        match e {
            RegistryError::UnknownVersion(id) => DecodeError::UnknownSchemaVersion(id),
            RegistryError::InvalidSchema(id) => DecodeError::InvalidWriterSchema(id),
            other => DecodeError::Registry(other),
        }
    }
}

/// The Glue Schema Registry client. Cheap to clone; clones share the caches and the call count.
#[derive(Debug, Clone)]
pub struct SchemaRegistry {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: aws_sdk_glue::Client,
    registry_name: String,
    /// Record name → the version id of the committed schema.
    version_ids: RwLock<HashMap<&'static str, Uuid>>,
    /// Version id → its schema (ours, or whatever older/newer version a producer used).
    writer_schemas: RwLock<HashMap<Uuid, Arc<Schema>>>,
    calls: AtomicU64,
}

impl SchemaRegistry {
    pub fn new(client: aws_sdk_glue::Client, registry_name: impl Into<String>) -> Self {
        SchemaRegistry {
            inner: Arc::new(Inner {
                client,
                registry_name: registry_name.into(),
                version_ids: RwLock::default(),
                writer_schemas: RwLock::default(),
                calls: AtomicU64::new(0),
            }),
        }
    }

    /// A registry client from the default AWS configuration chain (environment, profile, role;
    /// `AWS_ENDPOINT_URL` points it at a local stand-in), with bounded timeouts.
    pub async fn from_env(registry_name: impl Into<String>) -> Self {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(3))
                    .operation_attempt_timeout(Duration::from_secs(5))
                    .operation_timeout(Duration::from_secs(20))
                    .build(),
            )
            .load()
            .await;
        Self::new(aws_sdk_glue::Client::new(&config), registry_name)
    }

    pub fn registry_name(&self) -> &str {
        &self.inner.registry_name
    }

    /// How many requests this client (and its clones) has sent to the registry.
    pub fn registry_calls(&self) -> u64 {
        self.inner.calls.load(Ordering::Relaxed)
    }

    /// Makes the registry hold every committed schema, in one idempotent step.
    ///
    /// Creates the registry if missing; for each record reuses the version whose definition
    /// equals the committed schema, or creates the schema (AVRO, BACKWARD) or registers a new
    /// version; then waits until the version is AVAILABLE. Returns record name → version id.
    pub async fn register_all(&self) -> Result<BTreeMap<&'static str, Uuid>, RegistryError> {
        self.ensure_registry().await?;
        let mut ids = BTreeMap::new();
        for info in ALL_RECORDS {
            ids.insert(info.name, self.register(info).await?);
        }
        Ok(ids)
    }

    /// The version id of the committed schema of record `name`; asks the registry only once.
    pub async fn version_id(&self, name: &str) -> Result<Uuid, RegistryError> {
        if let Some(id) = read(&self.inner.version_ids).get(name) {
            return Ok(*id);
        }
        let info = record_info(name).ok_or_else(|| RegistryError::UnknownRecord(name.into()))?;
        match self.find_version(info).await? {
            Some((id, Some(SchemaVersionStatus::Available))) => {
                self.remember(info, id);
                Ok(id)
            }
            Some((id, status)) => Err(RegistryError::VersionNotAvailable {
                name: info.name,
                version_id: id,
                status: status_name(status.as_ref()),
            }),
            None => Err(RegistryError::NotRegistered {
                name: info.name,
                registry: self.inner.registry_name.clone(),
            }),
        }
    }

    /// The schema a producer wrote with; asks the registry once per version id.
    pub async fn writer_schema(&self, version_id: Uuid) -> Result<Arc<Schema>, RegistryError> {
        if let Some(schema) = read(&self.inner.writer_schemas).get(&version_id) {
            return Ok(Arc::clone(schema));
        }
        let out = self.get_schema_version(version_id).await.map_err(|e| {
            if e.as_service_error()
                .is_some_and(|s| s.is_entity_not_found_exception())
            {
                RegistryError::UnknownVersion(version_id)
            } else {
                call_error(GET_SCHEMA_VERSION, e)
            }
        })?;
        if out.data_format().is_some_and(|f| *f != DataFormat::Avro) {
            return Err(RegistryError::InvalidSchema(version_id));
        }
        let definition = out
            .schema_definition()
            .ok_or(RegistryError::MalformedResponse {
                operation: GET_SCHEMA_VERSION,
                field: "SchemaDefinition",
            })?;
        let schema = Arc::new(
            Schema::parse_str(definition).map_err(|_| RegistryError::InvalidSchema(version_id))?,
        );
        write(&self.inner.writer_schemas).insert(version_id, Arc::clone(&schema));
        Ok(schema)
    }

    /// Encodes `record` and frames it with its schema version id.
    pub async fn encode<T: Record>(&self, record: &T) -> Result<Vec<u8>, EncodeError> {
        let datum = encode_datum(record)?;
        let version_id = self.version_id(T::NAME).await?;
        Ok(frame(version_id, &datum))
    }

    /// Decodes a framed record, resolving its writer schema version into the current `T`.
    /// A schema-valid record holding a value no producer writes (a nil id, a time before 2000,
    /// an empty required text, version 0: [`Record::validate`]) is refused as impossible.
    pub async fn decode<T: Record>(&self, bytes: &[u8]) -> Result<T, DecodeError> {
        let (version_id, datum) = unframe(bytes)?;
        let writer = self.writer_schema(version_id).await?;
        let record = decode_datum::<T>(datum, &writer)?;
        record.validate()?;
        Ok(record)
    }

    fn count_call(&self) {
        self.inner.calls.fetch_add(1, Ordering::Relaxed);
    }

    /// One counted GetSchemaVersion call.
    async fn get_schema_version(
        &self,
        version_id: Uuid,
    ) -> Result<GetSchemaVersionOutput, SdkError<GetSchemaVersionError>> {
        self.count_call();
        self.inner
            .client
            .get_schema_version()
            .schema_version_id(version_id.to_string())
            .send()
            .await
    }

    fn remember(&self, info: &'static RecordInfo, version_id: Uuid) {
        write(&self.inner.version_ids).insert(info.name, version_id);
        // Our own records decode without a registry round trip.
        write(&self.inner.writer_schemas)
            .entry(version_id)
            .or_insert_with(|| Arc::new(info.schema().clone()));
    }

    async fn ensure_registry(&self) -> Result<(), RegistryError> {
        self.count_call();
        match self
            .inner
            .client
            .create_registry()
            .registry_name(&self.inner.registry_name)
            .description("Avro schemas of the appointment scheduling contract")
            .send()
            .await
        {
            Ok(_) => {
                tracing::info!(registry = %self.inner.registry_name, "created schema registry");
                Ok(())
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_already_exists_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(call_error("CreateRegistry", e)),
        }
    }

    async fn register(&self, info: &'static RecordInfo) -> Result<Uuid, RegistryError> {
        let (id, status) = match self.find_version(info).await? {
            Some(found) => found,
            None => self.create_version(info).await?,
        };
        self.wait_until_available(info, id, status).await?;
        self.remember(info, id);
        Ok(id)
    }

    fn schema_id(&self, info: &RecordInfo) -> SchemaId {
        SchemaId::builder()
            .registry_name(&self.inner.registry_name)
            .schema_name(info.name)
            .build()
    }

    /// The version whose definition is exactly the committed schema text, if there is one.
    async fn find_version(
        &self,
        info: &'static RecordInfo,
    ) -> Result<Option<(Uuid, Option<SchemaVersionStatus>)>, RegistryError> {
        const OP: &str = "GetSchemaByDefinition";
        self.count_call();
        match self
            .inner
            .client
            .get_schema_by_definition()
            .schema_id(self.schema_id(info))
            .schema_definition(info.schema_source)
            .send()
            .await
        {
            Ok(out) => Ok(Some((
                parse_version_id(OP, out.schema_version_id())?,
                out.status().cloned(),
            ))),
            // Glue answers "not found" both for a missing schema and a missing definition.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_entity_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(call_error(OP, e)),
        }
    }

    async fn create_version(
        &self,
        info: &'static RecordInfo,
    ) -> Result<(Uuid, Option<SchemaVersionStatus>), RegistryError> {
        self.count_call();
        let created = self
            .inner
            .client
            .create_schema()
            .registry_id(
                RegistryId::builder()
                    .registry_name(&self.inner.registry_name)
                    .build(),
            )
            .schema_name(info.name)
            .data_format(DataFormat::Avro)
            .compatibility(Compatibility::Backward)
            .schema_definition(info.schema_source)
            .send()
            .await;
        match created {
            Ok(out) => {
                tracing::info!(schema = info.name, "created schema");
                Ok((
                    parse_version_id("CreateSchema", out.schema_version_id())?,
                    out.schema_version_status().cloned(),
                ))
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_already_exists_exception()) =>
            {
                const OP: &str = "RegisterSchemaVersion";
                self.count_call();
                let out = self
                    .inner
                    .client
                    .register_schema_version()
                    .schema_id(self.schema_id(info))
                    .schema_definition(info.schema_source)
                    .send()
                    .await
                    .map_err(|e| call_error(OP, e))?;
                tracing::info!(schema = info.name, version = ?out.version_number(), "registered schema version");
                Ok((
                    parse_version_id(OP, out.schema_version_id())?,
                    out.status().cloned(),
                ))
            }
            Err(e) => Err(call_error("CreateSchema", e)),
        }
    }

    async fn wait_until_available(
        &self,
        info: &'static RecordInfo,
        version_id: Uuid,
        mut status: Option<SchemaVersionStatus>,
    ) -> Result<(), RegistryError> {
        let deadline = tokio::time::Instant::now() + AVAILABILITY_DEADLINE;
        let mut pause = FIRST_POLL;
        loop {
            match &status {
                Some(SchemaVersionStatus::Available) => return Ok(()),
                // Glue may omit the status right after a write: treat it as still pending.
                Some(SchemaVersionStatus::Pending) | None => {}
                Some(other) => {
                    return Err(RegistryError::VersionNotAvailable {
                        name: info.name,
                        version_id,
                        status: other.as_str().to_owned(),
                    })
                }
            }
            if tokio::time::Instant::now() + pause > deadline {
                return Err(RegistryError::VersionNotAvailable {
                    name: info.name,
                    version_id,
                    status: "PENDING".into(),
                });
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(MAX_POLL);
            let out = self
                .get_schema_version(version_id)
                .await
                .map_err(|e| call_error(GET_SCHEMA_VERSION, e))?;
            status = out.status().cloned();
        }
    }
}

fn parse_version_id(operation: &'static str, id: Option<&str>) -> Result<Uuid, RegistryError> {
    id.and_then(|s| Uuid::parse_str(s).ok())
        .ok_or(RegistryError::MalformedResponse {
            operation,
            field: "SchemaVersionId",
        })
}

fn status_name(status: Option<&SchemaVersionStatus>) -> String {
    status.map_or("PENDING", |s| s.as_str()).to_owned()
}

/// Service answers about the request itself; every other failure may pass.
const PERMANENT_CODES: [&str; 4] = [
    "EntityNotFoundException",
    "InvalidInputException",
    "AlreadyExistsException",
    "ResourceNumberLimitExceededException",
];

fn call_error<E>(operation: &'static str, err: SdkError<E>) -> RegistryError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let code = match (&err, err.code()) {
        (_, Some(code)) => code.to_owned(),
        (SdkError::DispatchFailure(_), None) => "registry unreachable".into(),
        (SdkError::TimeoutError(_), None) => "timed out".into(),
        (SdkError::ResponseError(_), None) => "unreadable response".into(),
        (SdkError::ConstructionFailure(_), None) => "request could not be built".into(),
        (_, None) => "unknown error".into(),
    };
    let retryable = !PERMANENT_CODES.contains(&code.as_str());
    RegistryError::Call {
        operation,
        code,
        retryable,
        source: Box::new(err),
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    // The maps only ever gain complete entries, so a panic elsewhere cannot leave them torn.
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}
