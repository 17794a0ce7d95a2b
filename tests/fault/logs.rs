//! Every log line the fault suite's pipelines write, kept in memory, so each scenario can prove
//! that no patient name, email or phone number reached the logs.

use clinic_tests::capture::Captured;
use std::sync::OnceLock;

fn captured() -> &'static Captured {
    static CAPTURED: OnceLock<Captured> = OnceLock::new();
    CAPTURED.get_or_init(|| {
        let captured = Captured::default();
        let writer = captured.clone();
        // Our crates at debug, everything else at info (what production runs with, and more).
        tracing_subscriber::fmt()
            .with_ansi(false)
            .with_env_filter(
                "info,api=debug,app=debug,messaging=debug,esm=debug,store=debug,local=debug,\
                 send_confirmation=debug,saga_sweeper=debug",
            )
            .with_writer(move || writer.clone())
            .init();
        captured
    })
}

/// Starts capturing (once per process).
pub fn capture() {
    captured();
}

/// Everything captured so far.
fn text() -> String {
    captured().text()
}

/// The last `n` WARN and ERROR lines captured (by every scenario run so far in the process).
pub fn last_problems(n: usize) -> String {
    let text = text();
    let problems: Vec<&str> = text
        .lines()
        .filter(|line| line.contains(" WARN ") || line.contains(" ERROR "))
        .collect();
    problems[problems.len().saturating_sub(n)..].join("\n")
}

/// Fails if any demo patient's name, email or phone number is in the captured logs.
pub fn assert_no_phi() {
    let text = text();
    assert!(
        !text.is_empty(),
        "nothing was logged: the capture is not working"
    );
    for patient in store::demo::patients(chrono::Utc::now().date_naive()) {
        let mut personal = vec![patient.name.clone(), patient.email.clone()];
        personal.extend(patient.phone.clone());
        for value in personal {
            assert!(
                !text.contains(&value),
                "the logs contain patient data ({} of patient {})",
                value.len(),
                patient.id
            );
        }
    }
}
