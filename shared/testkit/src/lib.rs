//! Test helpers: real local stand-ins for AWS (a moto server), Kafka (a tansu broker) and a
//! PostgreSQL cluster of a test's own, started
//! on free ports, and SDK clients pointed at them. Servers stop when dropped, or when the test
//! process ends. With the feature `containers`, [`containers`] gives the same services from
//! Docker containers instead.

pub mod postgres;

pub use postgres::Postgres;

use local::moto::MotoServer;
use local::tansu::TansuBroker;
use std::net::TcpListener;
use std::sync::OnceLock;

pub use local::moto::workspace_root;

#[cfg(feature = "containers")]
pub mod containers;

/// A moto server on a free 127.0.0.1 port.
#[derive(Debug)]
pub struct Moto {
    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub endpoint: String,
    _server: MotoServer,
}

impl Moto {
    /// Starts moto and waits until it answers. Panics with moto's log on failure.
    pub fn start() -> Moto {
        Self::try_start().unwrap_or_else(|e| panic!("cannot start moto: {e}"))
    }

    /// Like [`Moto::start`], reporting failure as an error.
    pub fn try_start() -> Result<Moto, String> {
        let mut last_error = String::new();
        // A free port can be taken between our probe and moto's bind: try a few.
        for _ in 0..3 {
            let port = free_port().map_err(|e| format!("no free port: {e}"))?;
            match MotoServer::start(port) {
                Ok(server) => {
                    return Ok(Moto {
                        endpoint: server.endpoint.clone(),
                        _server: server,
                    })
                }
                Err(e) => last_error = e,
            }
        }
        Err(last_error)
    }
}

/// A tansu broker on a free 127.0.0.1 port, with its data in a fresh temporary directory that
/// is removed when dropped.
#[derive(Debug)]
pub struct Tansu {
    /// `127.0.0.1:<port>`, for `bootstrap.servers`.
    pub bootstrap: String,
    broker: TansuBroker,
    // Declared after the broker, so the broker stops before its data is removed.
    _dir: tempfile::TempDir,
}

impl Tansu {
    /// Starts tansu and waits until it serves metadata. Panics with tansu's log on failure.
    pub fn start() -> Tansu {
        Self::try_start().unwrap_or_else(|e| panic!("cannot start tansu: {e}"))
    }

    /// Like [`Tansu::start`], reporting failure as an error.
    pub fn try_start() -> Result<Tansu, String> {
        let dir = tempfile::Builder::new()
            .prefix("tansu-")
            .tempdir()
            .map_err(|e| format!("no temporary directory: {e}"))?;
        let mut last_error = String::new();
        // A free port can be taken between our probe and tansu's bind: try a few.
        for _ in 0..3 {
            let port = free_port().map_err(|e| format!("no free port: {e}"))?;
            match TansuBroker::start(port, dir.path()) {
                Ok(broker) => {
                    return Ok(Tansu {
                        bootstrap: broker.bootstrap.clone(),
                        broker,
                        _dir: dir,
                    })
                }
                Err(e) => last_error = e,
            }
        }
        Err(last_error)
    }

    /// The end of the broker's log.
    pub fn log_tail(&self) -> String {
        self.broker.log_tail()
    }

    /// A connection to the broker's sqlite file.
    pub fn database(&self) -> rusqlite::Connection {
        self.broker
            .database()
            .unwrap_or_else(|e| panic!("cannot open tansu's sqlite file: {e}"))
    }

    /// SIGKILLs the broker, as a crash would.
    pub fn kill(&mut self) {
        self.broker.kill();
    }

    /// Starts the broker again on the same port and data. Panics with tansu's log on failure.
    pub fn restart(&mut self) {
        self.broker
            .restart()
            .unwrap_or_else(|e| panic!("cannot restart tansu: {e}"));
    }
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port())
}

/// A Glue client for a local endpoint: region us-east-1, dummy credentials.
pub async fn glue_client(endpoint: &str) -> aws_sdk_glue::Client {
    aws_sdk_glue::Client::new(&local::moto::sdk_config(endpoint).await)
}

/// One moto per test process, shared by its tests; it stops when the process ends.
pub fn shared_moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(Moto::start)
}

/// A schema registry on the shared moto with every schema registered. Each call builds its own
/// client (tests run on separate runtimes); registration is idempotent and cheap when done.
pub async fn registry() -> contract::SchemaRegistry {
    let registry = contract::SchemaRegistry::new(
        glue_client(&shared_moto().endpoint).await,
        contract::DEFAULT_REGISTRY_NAME,
    );
    registry
        .register_all()
        .await
        .expect("register schemas on moto");
    registry
}
