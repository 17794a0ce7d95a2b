//! A TCP proxy that can be taken down and brought back on the same port: an endpoint that
//! refuses connections for a while, as an unreachable service does.

use std::net::SocketAddr;
use std::sync::{Mutex, PoisonError};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

pub struct Proxy {
    pub addr: SocketAddr,
    target: SocketAddr,
    serving: Mutex<Option<JoinHandle<()>>>,
}

impl Proxy {
    /// A proxy to `target` on a free port, up.
    pub async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let proxy = Proxy {
            addr: listener.local_addr().expect("addr"),
            target,
            serving: Mutex::new(None),
        };
        proxy.serve(listener);
        proxy
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn serve(&self, listener: TcpListener) {
        let target = self.target;
        let task = tokio::spawn(async move {
            // Dropping the set (when the task is aborted) cuts every open connection.
            let mut connections = JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                connections.spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        *self.serving.lock().unwrap_or_else(PoisonError::into_inner) = Some(task);
    }

    /// Closes the port and cuts open connections: new connections are refused.
    pub fn down(&self) {
        if let Some(task) = self
            .serving
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            task.abort();
        }
    }

    /// Listens on the same port again.
    pub async fn up(&self) {
        let listener = TcpListener::bind(self.addr)
            .await
            .expect("rebind the proxy port");
        self.serve(listener);
    }
}
