//! Lambda bootstrap of project-calls (trigger: MSK event-source mappings).

#[tokio::main]
async fn main() -> Result<(), messaging::lambda::Error> {
    messaging::lambda::run(|_| Ok(project_calls::ProjectCallsFn)).await
}
