//! The app served by hyper on one thread, under a tokio current-thread
//! runtime or a smol `LocalExecutor` (as in a single-worker uvicorn), with
//! a lag probe spawned on the same executor.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use hyper::server::conn::http1;
use hyper::service::service_fn;
use threadbridge::LagProbe;

use crate::app;
use crate::handler::Handler;

/// Starts the app's server on one executor.
pub type Start = fn(Arc<Handler>, LagProbe) -> io::Result<Server>;

/// A server running on its own thread, under its own single-threaded executor.
pub struct Server {
    /// Where it listens (127.0.0.1, an ephemeral port).
    pub addr: SocketAddr,
    stop: Box<dyn FnOnce() + Send>,
    thread: JoinHandle<()>,
}

impl Server {
    /// Stops accepting, drops open connections and joins the thread.
    pub fn stop(self) {
        (self.stop)();
        self.thread.join().expect("server thread panicked");
    }
}

fn listen() -> io::Result<(std::net::TcpListener, SocketAddr)> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}

/// hyper on a tokio current-thread runtime.
pub fn tokio(handler: Arc<Handler>, probe: LagProbe) -> io::Result<Server> {
    use hyper_util::rt::TokioIo;
    use tokio::sync::oneshot;

    let (listener, addr) = listen()?;
    listener.set_nonblocking(true)?;
    let (stop, mut stopped) = oneshot::channel::<()>();
    let thread = thread::Builder::new()
        .name("server-tokio".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio runtime");
            runtime.spawn(probe);
            runtime.block_on(async move {
                let listener =
                    tokio::net::TcpListener::from_std(listener).expect("register listener");
                loop {
                    let stream = tokio::select! {
                        _ = &mut stopped => return,
                        accepted = listener.accept() => match accepted {
                            Ok((stream, _)) => stream,
                            Err(_) => continue, // e.g. out of file descriptors
                        },
                    };
                    let _ = stream.set_nodelay(true);
                    let handler = Arc::clone(&handler);
                    tokio::spawn(async move {
                        let service = service_fn(move |req| app::handle(Arc::clone(&handler), req));
                        // An error here is one client's broken connection.
                        let _ = http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            });
            // Dropping the runtime drops the connection tasks still open.
        })?;
    let stop = move || {
        let _ = stop.send(()); // Err: the server has stopped already
    };
    Ok(Server {
        addr,
        stop: Box::new(stop),
        thread,
    })
}

/// hyper on a smol `LocalExecutor` driven by one thread, with `smol-hyper`
/// adapting smol's sockets to hyper's I/O traits.
pub fn smol(handler: Arc<Handler>, probe: LagProbe) -> io::Result<Server> {
    use smol::{channel, future, net::TcpListener, LocalExecutor};
    use smol_hyper::rt::FuturesIo;

    let (listener, addr) = listen()?;
    // Dropping the sender is the stop signal.
    let (stop, stopped) = channel::bounded::<()>(1);
    let thread = thread::Builder::new()
        .name("server-smol".into())
        .spawn(move || {
            let executor = LocalExecutor::new();
            executor.spawn(probe).detach();
            smol::block_on(executor.run(async {
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
                        Some(Err(_)) => continue, // e.g. out of file descriptors
                    };
                    let _ = stream.set_nodelay(true);
                    let handler = Arc::clone(&handler);
                    executor
                        .spawn(async move {
                            let service =
                                service_fn(move |req| app::handle(Arc::clone(&handler), req));
                            // An error here is one client's broken connection.
                            let _ = http1::Builder::new()
                                .serve_connection(FuturesIo::new(stream), service)
                                .await;
                        })
                        .detach();
                }
            }));
            // Dropping the executor drops the connection tasks still open.
        })?;
    Ok(Server {
        addr,
        stop: Box::new(move || drop(stop)),
        thread,
    })
}
