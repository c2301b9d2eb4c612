//! The web app both servers run — the same handler code under tokio and
//! under smol — and the handle a started server returns.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use threadbridge::{watch, Pool};

/// What a handler needs: the blocking HTTP client, where to call, and the
/// pool that runs the offloaded calls.
pub struct App {
    agent: ureq::Agent,
    upstream: String,
    pool: Pool,
}

impl App {
    /// `upstream` is the full URL the slow routes fetch.
    pub fn new(upstream: String, pool: Pool) -> Self {
        let agent = ureq::Agent::config_builder()
            // Keep a connection per pool thread instead of reconnecting.
            .max_idle_connections_per_host(64)
            .build()
            .new_agent();
        App {
            agent,
            upstream,
            pool,
        }
    }

    /// The blocking call: `requests.get(url).text` in Python, `ureq` here.
    /// It holds its thread until the upstream answers.
    fn call_upstream(&self) -> Result<String, ureq::Error> {
        self.agent
            .get(&self.upstream)
            .call()?
            .body_mut()
            .read_to_string()
    }
}

/// Routes one request. `async`, as every handler of an async server is.
pub async fn handle(
    app: Arc<App>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let fetched = match req.uri().path() {
        "/health" => return Ok(reply(StatusCode::OK, "ok\n".into())),

        // THE BUG, on purpose: a blocking call straight inside an async
        // handler. The executor's only thread sits in `call_upstream` until
        // the upstream answers, and every other connection — `/health`
        // included — waits with it. FastAPI's `async def` + `requests.get`.
        //
        // `watch` names it: a poll of it that blocks this thread past the
        // demo's `on_slow_poll` threshold is reported, with this line.
        "/inline" => {
            watch(async { app.call_upstream() })
                .name("GET /inline")
                .await
        }

        // The fix: the same call on a pool thread; this task awaits it, and
        // the executor serves everyone else meanwhile. With the global pool
        // it reads `threadbridge::run(move || ..).await`; a private pool
        // here, so the demo can print what it did.
        "/offloaded" => {
            let job = Arc::clone(&app);
            watch(app.pool.run(move || job.call_upstream()))
                .name("GET /offloaded")
                .await
        }

        _ => return Ok(reply(StatusCode::NOT_FOUND, "not found\n".into())),
    };
    Ok(match fetched {
        Ok(body) => reply(StatusCode::OK, body),
        Err(err) => reply(StatusCode::BAD_GATEWAY, format!("upstream: {err}\n")),
    })
}

fn reply(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
}

/// A server running on its own thread, under its own single-threaded executor.
pub struct Server {
    /// Where it listens (127.0.0.1, an ephemeral port).
    pub addr: SocketAddr,
    stop: Box<dyn FnOnce() + Send>,
    thread: JoinHandle<()>,
}

impl Server {
    pub fn new(
        addr: SocketAddr,
        stop: impl FnOnce() + Send + 'static,
        thread: JoinHandle<()>,
    ) -> Self {
        Server {
            addr,
            stop: Box::new(stop),
            thread,
        }
    }

    /// Stops accepting, drops open connections and joins the thread.
    pub fn stop(self) {
        (self.stop)();
        self.thread.join().expect("server thread panicked");
    }
}
