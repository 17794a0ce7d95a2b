//! The one AWS initialisation, idempotent, for every place the system runs: the Glue registry
//! with every schema, the SES sender identity, and the database secret (RDS format, from
//! `DATABASE_URL`, read by the functions in the cloud). `clinic-local up` runs it against moto;
//! `clinic-local init-aws` runs it against any endpoint: LocalStack's ready.d hook and the
//! compose init service in localstack/, moto, or a real account (the SAM deploy path).

use anyhow::Context;
use aws_sdk_secretsmanager::error::DisplayErrorContext;
use contract::SchemaRegistry;
use messaging::database::DatabaseSecret;

/// What to create.
#[derive(Debug, Clone)]
pub struct AwsInit {
    pub registry_name: String,
    /// SES identity the confirmation emails are sent from.
    pub sender: String,
    /// Name of the Secrets Manager secret written from `database_url`.
    pub database_secret_name: String,
    pub database_url: String,
}

/// What exists afterwards.
#[derive(Debug)]
pub struct Initialised {
    /// A registry client that has every schema registered (its version ids cached).
    pub registry: SchemaRegistry,
    pub schemas: usize,
    pub database_secret_arn: String,
}

/// Creates (or updates) everything in `init` in the account `aws` points at.
pub async fn init_aws(aws: &aws_config::SdkConfig, init: &AwsInit) -> anyhow::Result<Initialised> {
    let registry = SchemaRegistry::new(aws_sdk_glue::Client::new(aws), &init.registry_name);
    let schemas = registry
        .register_all()
        .await
        .context("registering schemas")?
        .len();
    send_confirmation::ensure_sender_identity(&aws_sdk_sesv2::Client::new(aws), &init.sender)
        .await?;
    let database_secret_arn = put_database_secret(
        &aws_sdk_secretsmanager::Client::new(aws),
        &init.database_secret_name,
        &DatabaseSecret::from_url(&init.database_url)?,
    )
    .await?;
    Ok(Initialised {
        registry,
        schemas,
        database_secret_arn,
    })
}

/// Creates the secret, or stores a new value when it exists. Returns its ARN.
async fn put_database_secret(
    secrets: &aws_sdk_secretsmanager::Client,
    name: &str,
    secret: &DatabaseSecret,
) -> anyhow::Result<String> {
    let value = serde_json::to_string(secret)?;
    let created = secrets
        .create_secret()
        .name(name)
        .description("Database credentials of the scheduling back office (RDS format)")
        .secret_string(&value)
        .send()
        .await;
    let arn = match created {
        Ok(out) => out.arn().map(str::to_owned),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_exists_exception()) =>
        {
            secrets
                .put_secret_value()
                .secret_id(name)
                .secret_string(&value)
                .send()
                .await
                .map_err(|e| anyhow::anyhow!("updating secret {name}: {}", DisplayErrorContext(e)))?
                .arn()
                .map(str::to_owned)
        }
        Err(e) => anyhow::bail!("creating secret {name}: {}", DisplayErrorContext(e)),
    };
    arn.ok_or_else(|| anyhow::anyhow!("Secrets Manager returned no ARN for {name}"))
}
