//! The test broker itself: a crash (SIGKILL) and a restart keep the data.

use crate::support::{create_topic, message_value, numbered, produce, read_topic, Out};
use std::net::TcpStream;

#[tokio::test]
async fn a_killed_broker_restarts_on_the_same_port_with_its_data() {
    let mut broker = testkit::Tansu::start();
    let topic = "durable";
    create_topic(&broker.bootstrap, topic, 1).await;
    produce(&broker.bootstrap, topic, &numbered(3, 1)).await;

    broker.kill();
    assert!(
        TcpStream::connect(&broker.bootstrap).is_err(),
        "the broker is down"
    );
    broker.restart();

    produce(&broker.bootstrap, topic, &[Out::new(0, "k3", "after")]).await;
    let values: Vec<String> = read_topic(&broker.bootstrap, topic, 4)
        .await
        .iter()
        .map(message_value)
        .collect();
    assert_eq!(values, ["v0", "v1", "v2", "after"]);
}
