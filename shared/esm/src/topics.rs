//! Creates the topics the mappings need (the broker does not create topics on first use). The
//! local stack and the deploy step (`clinic-local create-topics`) both create them here.

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::ClientConfig;
use std::time::{Duration, Instant};

use crate::EsmError;

const METADATA_DEADLINE: Duration = Duration::from_secs(30);

/// How new topics are created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicSettings {
    pub partitions: i32,
    pub replication_factor: i32,
    /// `retention.ms`; the broker's default when None.
    pub retention_ms: Option<i64>,
}

impl TopicSettings {
    /// A single local broker: no replication, the broker's retention.
    pub fn local(partitions: i32) -> Self {
        TopicSettings {
            partitions,
            replication_factor: 1,
            retention_ms: None,
        }
    }
}

/// Creates `topics` with `partitions` partitions each on a single local broker; see
/// [`ensure_topics_with`].
pub async fn ensure_topics(
    bootstrap: &str,
    topics: &[String],
    partitions: i32,
) -> Result<(), EsmError> {
    ensure_topics_with(
        ClientConfig::new().set("bootstrap.servers", bootstrap),
        topics,
        &TopicSettings::local(partitions),
    )
    .await
}

/// Creates `topics` with `settings` unless they exist (a topic that already exists keeps its
/// partitions and configuration), then waits until the broker's metadata lists them all.
/// `client` says where the brokers are and how to reach them.
pub async fn ensure_topics_with(
    client: &ClientConfig,
    topics: &[String],
    settings: &TopicSettings,
) -> Result<(), EsmError> {
    let admin: AdminClient<DefaultClientContext> = client.create()?;
    let retention = settings.retention_ms.map(|ms| ms.to_string());
    let new_topics: Vec<NewTopic> = topics
        .iter()
        .map(|t| {
            let topic = NewTopic::new(
                t,
                settings.partitions,
                TopicReplication::Fixed(settings.replication_factor),
            );
            match &retention {
                Some(ms) => topic.set("retention.ms", ms),
                None => topic,
            }
        })
        .collect();
    for result in admin
        .create_topics(&new_topics, &AdminOptions::new())
        .await?
    {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => return Err(EsmError::CreateTopic { topic, code }),
        }
    }
    let topics = topics.to_vec();
    tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + METADATA_DEADLINE;
        loop {
            let metadata = admin.inner().fetch_metadata(None, Duration::from_secs(5))?;
            let missing: Vec<&String> = topics
                .iter()
                .filter(|t| {
                    !metadata.topics().iter().any(|m| {
                        m.name() == t.as_str() && m.error().is_none() && !m.partitions().is_empty()
                    })
                })
                .collect();
            if missing.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(EsmError::TopicsMissing(format!("{missing:?}")));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    })
    .await
    .map_err(|e| EsmError::TopicsMissing(format!("metadata task failed: {e}")))?
}
