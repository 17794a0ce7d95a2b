//! The test services from Docker containers (feature `containers`), for machines that have
//! Docker and no native broker, moto or PostgreSQL: moto (the AWS stand-in: Glue registry, SES,
//! Secrets Manager; LocalStack's community image has no Glue registry), Apache Kafka (KRaft)
//! and PostgreSQL. The handles carry what the native ones do (an endpoint URL, bootstrap
//! servers, a database URL); containers stop when dropped. The default stays the native
//! services: CI compiles this module (clippy with the feature) but runs it only where Docker
//! runs.

use testcontainers_modules::kafka::apache::{Kafka as KafkaImage, KAFKA_PORT};
use testcontainers_modules::postgres::Postgres as PostgresImage;
use testcontainers_modules::testcontainers::core::{ContainerPort, IntoContainerPort, WaitFor};
use testcontainers_modules::testcontainers::runners::AsyncRunner;
use testcontainers_modules::testcontainers::{ContainerAsync, GenericImage, Image, ImageExt};

/// The moto release line the native set-up installs (5.x).
const MOTO_IMAGE: (&str, &str) = ("motoserver/moto", "5.1.4");
const MOTO_PORT: u16 = 5000;

/// Starts `image` and returns it with the host port mapped to its `port` on 127.0.0.1.
async fn start<I: Image>(
    image: impl AsyncRunner<I>,
    port: ContainerPort,
    what: &str,
) -> Result<(ContainerAsync<I>, u16), String> {
    let failed = |e| format!("cannot start the {what} container: {e}");
    let container = image.start().await.map_err(failed)?;
    let host_port = container.get_host_port_ipv4(port).await.map_err(failed)?;
    Ok((container, host_port))
}

/// moto in a container; `endpoint` as [`crate::Moto`]'s.
#[derive(Debug)]
pub struct Moto {
    pub endpoint: String,
    _container: ContainerAsync<GenericImage>,
}

impl Moto {
    pub async fn start() -> Result<Moto, String> {
        let image = GenericImage::new(MOTO_IMAGE.0, MOTO_IMAGE.1)
            .with_exposed_port(MOTO_PORT.tcp())
            .with_wait_for(WaitFor::message_on_stderr("Running on"));
        let (container, port) = start(image, MOTO_PORT.tcp(), "moto").await?;
        Ok(Moto {
            endpoint: format!("http://127.0.0.1:{port}"),
            _container: container,
        })
    }
}

/// A single-node Kafka in a container; `bootstrap` as [`crate::Tansu`]'s.
#[derive(Debug)]
pub struct Kafka {
    pub bootstrap: String,
    _container: ContainerAsync<KafkaImage>,
}

impl Kafka {
    pub async fn start() -> Result<Kafka, String> {
        let (container, port) = start(KafkaImage::default(), KAFKA_PORT, "Kafka").await?;
        Ok(Kafka {
            bootstrap: format!("127.0.0.1:{port}"),
            _container: container,
        })
    }
}

/// PostgreSQL in a container; `database_url` names its server, as `DATABASE_URL` does for
/// `#[sqlx::test]`.
#[derive(Debug)]
pub struct Postgres {
    pub database_url: String,
    _container: ContainerAsync<PostgresImage>,
}

impl Postgres {
    pub async fn start() -> Result<Postgres, String> {
        let image = PostgresImage::default().with_tag("16-alpine");
        let (container, port) = start(image, 5432.tcp(), "PostgreSQL").await?;
        Ok(Postgres {
            database_url: format!("postgres://postgres:postgres@127.0.0.1:{port}/postgres"),
            _container: container,
        })
    }
}
