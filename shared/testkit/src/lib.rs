//! Test helpers: real local stand-ins for AWS (a moto server) started on free ports, and SDK
//! clients pointed at them. Servers stop when dropped, or when the test process ends.

use local::moto::MotoServer;
use std::net::TcpListener;
use std::sync::OnceLock;

pub use local::moto::workspace_root;

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
