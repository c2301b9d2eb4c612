//! The slow upstream: a tiny HTTP/1.1 server on plain std threads, one per
//! connection, that answers `GET /delay-ms/{n}` after sleeping `n` ms — like
//! httpbin's `/delay/N`, in milliseconds. It stands in for any slow service
//! a handler calls: a payment API, a search backend, a sync database.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

/// An idle keep-alive connection is closed after this long.
const IDLE: Duration = Duration::from_secs(10);

/// Starts the upstream on an ephemeral port of 127.0.0.1; returns its address.
/// Its threads live until the process exits.
pub fn start() -> io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    thread::Builder::new()
        .name("upstream-accept".into())
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                let conn = thread::Builder::new().name("upstream-conn".into());
                // A connection that cannot get a thread is dropped: its client sees an error.
                let _ = conn.spawn(move || serve(stream));
            }
        })?;
    Ok(addr)
}

/// Serves one keep-alive connection, request after request.
fn serve(stream: TcpStream) -> io::Result<()> {
    stream.set_read_timeout(Some(IDLE))?;
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line)? == 0 {
            return Ok(()); // the client closed the connection
        }
        // GET requests carry no body: skip the headers up to the blank line.
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header)? == 0 {
                return Ok(());
            }
            if header.trim_end().is_empty() {
                break;
            }
        }
        let path = request_line.split_whitespace().nth(1).unwrap_or("/");
        let delay = path.strip_prefix("/delay-ms/").and_then(|n| n.parse().ok());
        let (status, body) = match delay {
            Some(ms) => {
                thread::sleep(Duration::from_millis(ms));
                ("200 OK", format!("slept {ms} ms\n"))
            }
            None => ("404 Not Found", "try /delay-ms/{n}\n".to_string()),
        };
        write!(
            writer,
            "HTTP/1.1 {status}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )?;
    }
}
