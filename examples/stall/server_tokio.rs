//! The app served by hyper on a tokio current-thread runtime: one thread
//! runs every connection, as in a single-worker uvicorn.

use std::io;
use std::sync::Arc;
use std::thread;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use threadbridge::LagProbe;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::app::{self, App, Server};

/// Starts the server on an ephemeral port of 127.0.0.1, on a thread of its own.
pub fn start(app: Arc<App>, probe: LagProbe) -> io::Result<Server> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let thread = thread::Builder::new()
        .name("server-tokio".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio runtime");
            // The lag probe watches this executor: spawned on it.
            runtime.spawn(probe);
            runtime.block_on(serve(listener, app, stopped));
            // Dropping the runtime drops the connection tasks still open.
        })?;
    let stop = move || {
        let _ = stop.send(()); // Err: the server has stopped already
    };
    Ok(Server::new(addr, stop, thread))
}

async fn serve(listener: std::net::TcpListener, app: Arc<App>, mut stopped: oneshot::Receiver<()>) {
    let listener = TcpListener::from_std(listener).expect("register listener");
    loop {
        let stream = tokio::select! {
            _ = &mut stopped => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue, // e.g. out of file descriptors: keep serving
            },
        };
        let _ = stream.set_nodelay(true);
        let app = Arc::clone(&app);
        tokio::spawn(async move {
            let service = service_fn(move |req| app::handle(Arc::clone(&app), req));
            // An error here is one client's broken connection.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
