//! The deploy step that creates every topic: the contract's topics and their dead-letter topics
//! (`messaging::topics::all_topics`, the list the local stack creates), idempotently.
//!
//! Two ways in, the same list and settings: the Kafka admin protocol over PLAINTEXT
//! (`esm::ensure_topics_with`: the local broker, a compose broker, any plain Kafka), or, for an
//! MSK cluster that only speaks IAM, MSK's topic API (CreateTopic, Kafka 3.6+ provisioned
//! clusters) with the default AWS credentials: rust-rdkafka's admin client never answers the
//! OAUTHBEARER token refresh (rust-rdkafka#757), so it cannot log in to the IAM listener.

use anyhow::Context;
use aws_sdk_kafka::error::DisplayErrorContext;
use base64::Engine;
pub use esm::TopicSettings;

/// What the cloud deployment uses (terraform/catalogue.json's `topic_settings`): 12 partitions,
/// three replicas, seven days.
pub const CLOUD: TopicSettings = TopicSettings {
    partitions: 12,
    replication_factor: 3,
    retention_ms: Some(CLOUD_RETENTION_MS),
};
pub const CLOUD_RETENTION_MS: i64 = 7 * 24 * 3600 * 1000;

/// Where the topics are created.
#[derive(Debug, Clone)]
pub enum TopicTarget {
    /// Brokers reached over PLAINTEXT.
    Kafka { bootstrap: String },
    /// An MSK cluster, through MSK's topic API.
    Msk { cluster_arn: String },
}

/// Creates every topic the system uses that does not exist yet. Returns the list.
pub async fn create_topics(
    target: &TopicTarget,
    settings: &TopicSettings,
) -> anyhow::Result<Vec<String>> {
    let topics = messaging::topics::all_topics();
    match target {
        TopicTarget::Kafka { bootstrap } => {
            let client = messaging::KafkaConfig::plaintext(bootstrap).client_config();
            esm::ensure_topics_with(&client, &topics, settings).await?;
        }
        TopicTarget::Msk { cluster_arn } => {
            let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
            let msk = aws_sdk_kafka::Client::new(&aws);
            for topic in &topics {
                create_msk_topic(&msk, cluster_arn, topic, settings)
                    .await
                    .with_context(|| format!("creating {topic}"))?;
            }
        }
    }
    Ok(topics)
}

async fn create_msk_topic(
    msk: &aws_sdk_kafka::Client,
    cluster_arn: &str,
    topic: &str,
    settings: &TopicSettings,
) -> anyhow::Result<()> {
    let mut request = msk
        .create_topic()
        .cluster_arn(cluster_arn)
        .topic_name(topic)
        .partition_count(settings.partitions)
        .replication_factor(settings.replication_factor);
    if let Some(ms) = settings.retention_ms {
        // The API takes the topic configuration as base64 of a JSON object of strings.
        let configs = serde_json::json!({ "retention.ms": ms.to_string() }).to_string();
        request = request.configs(base64::engine::general_purpose::STANDARD.encode(configs));
    }
    match request.send().await {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_conflict_exception()) =>
        {
            Ok(())
        }
        Err(e) => Err(anyhow::anyhow!("{}", DisplayErrorContext(e))),
    }
}
