//! The web app both servers run — the same routes under tokio and under
//! smol: `/health`, and two database endpoints that await
//! [`Handler::query`].

use std::convert::Infallible;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};

use crate::db::{Answer, Query};
use crate::handler::Handler;

/// `GET /customer/{id}`: a customer's orders (an indexed lookup).
/// `GET /sku/{SKU-nnnnn}`: a product's orders (a scan of every row).
pub fn route(path: &str) -> Option<Query> {
    if let Some(id) = path.strip_prefix("/customer/") {
        return id.parse().ok().map(Query::Customer);
    }
    path.strip_prefix("/sku/")
        .filter(|sku| !sku.is_empty() && !sku.contains('/'))
        .map(|sku| Query::Sku(sku.to_string()))
}

/// The path that asks `query`: [`route`]'s inverse.
pub fn path(query: &Query) -> String {
    match query {
        Query::Customer(id) => format!("/customer/{id}"),
        Query::Sku(sku) => format!("/sku/{sku}"),
    }
}

/// An answer as the body says it: `orders=10 cents=512345`.
pub fn body(answer: Answer) -> String {
    format!("orders={} cents={}\n", answer.orders, answer.cents)
}

/// [`body`]'s inverse; `None` for anything else.
pub fn parse(body: &str) -> Option<Answer> {
    let mut words = body.split_whitespace();
    let orders = words.next()?.strip_prefix("orders=")?.parse().ok()?;
    let cents = words.next()?.strip_prefix("cents=")?.parse().ok()?;
    Some(Answer { orders, cents })
}

/// Routes one request. `async`, as every handler of an async server is.
pub async fn handle(
    handler: Arc<Handler>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path();
    if path == "/health" {
        return Ok(reply(StatusCode::OK, "ok\n".into()));
    }
    let Some(query) = route(path) else {
        return Ok(reply(StatusCode::NOT_FOUND, "not found\n".into()));
    };
    Ok(match handler.query(query).await {
        Ok(answer) => reply(StatusCode::OK, body(answer)),
        Err(err) => reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("sqlite: {err}\n"),
        ),
    })
}

fn reply(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
}
