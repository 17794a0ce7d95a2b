//! Creates the topics the mappings need (the broker does not create topics on first use).

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::ClientConfig;
use std::time::{Duration, Instant};

use crate::EsmError;

const METADATA_DEADLINE: Duration = Duration::from_secs(30);

/// Creates `topics` with `partitions` partitions each unless they exist (a topic that already
/// exists keeps its partitions), then waits until the broker's metadata lists them all.
pub async fn ensure_topics(
    bootstrap: &str,
    topics: &[String],
    partitions: i32,
) -> Result<(), EsmError> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()?;
    let new_topics: Vec<NewTopic> = topics
        .iter()
        .map(|t| NewTopic::new(t, partitions, TopicReplication::Fixed(1)))
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
