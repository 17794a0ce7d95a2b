//! The one list of topics: every record's topic from the contract, plus a dead-letter topic
//! for each. The local stack creates exactly these; the cloud deploy step does too.

/// The on-failure destination of a topic's consumers (`<topic>.dlq`).
pub fn dead_letter_topic(topic: &str) -> String {
    format!("{topic}.dlq")
}

/// Every topic the product uses, sources first, then their dead-letter topics.
pub fn all_topics() -> Vec<String> {
    let sources: Vec<String> = contract::ALL_RECORDS
        .iter()
        .map(|r| r.topic.to_owned())
        .collect();
    let dead_letters: Vec<String> = sources.iter().map(|t| dead_letter_topic(t)).collect();
    sources.into_iter().chain(dead_letters).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_contract_topic_has_a_distinct_dead_letter_topic() {
        let topics = all_topics();
        assert_eq!(topics.len(), 2 * contract::ALL_RECORDS.len());
        let unique: std::collections::BTreeSet<&String> = topics.iter().collect();
        assert_eq!(unique.len(), topics.len());
        assert!(topics.contains(&"appointments.commands.schedule.dlq".to_owned()));
    }
}
