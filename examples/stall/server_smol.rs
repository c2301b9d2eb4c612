//! The same app served by hyper on smol: a `LocalExecutor` driven by one
//! thread, with `smol-hyper` adapting smol's sockets to hyper's I/O traits.

use std::io;
use std::sync::Arc;
use std::thread;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use smol::{channel, future, net::TcpListener, LocalExecutor};
use smol_hyper::rt::FuturesIo;
use threadbridge::LagProbe;

use crate::app::{self, App, Server};

/// Starts the server on an ephemeral port of 127.0.0.1, on a thread of its own.
pub fn start(app: Arc<App>, probe: LagProbe) -> io::Result<Server> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    // Dropping the sender is the stop signal.
    let (stop, stopped) = channel::bounded::<()>(1);
    let thread = thread::Builder::new()
        .name("server-smol".into())
        .spawn(move || {
            let executor = LocalExecutor::new();
            // The lag probe watches this executor: spawned on it.
            executor.spawn(probe).detach();
            smol::block_on(executor.run(serve(&executor, listener, app, stopped)));
            // Dropping the executor drops the connection tasks still open.
        })?;
    Ok(Server::new(addr, move || drop(stop), thread))
}

async fn serve(
    executor: &LocalExecutor<'_>,
    listener: std::net::TcpListener,
    app: Arc<App>,
    stopped: channel::Receiver<()>,
) {
    let listener = TcpListener::try_from(listener).expect("register listener");
    loop {
        let accept = async { Some(listener.accept().await) };
        let stop = async {
            let _ = stopped.recv().await;
            None
        };
        let stream = match future::or(stop, accept).await {
            None => return,
            Some(Ok((stream, _))) => stream,
            Some(Err(_)) => continue, // e.g. out of file descriptors: keep serving
        };
        let _ = stream.set_nodelay(true);
        let app = Arc::clone(&app);
        executor
            .spawn(async move {
                let service = service_fn(move |req| app::handle(Arc::clone(&app), req));
                // An error here is one client's broken connection.
                let _ = http1::Builder::new()
                    .serve_connection(FuturesIo::new(stream), service)
                    .await;
            })
            .detach();
    }
}
