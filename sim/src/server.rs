//! The HTTP server the simulators run: every request, whatever its path, is read whole and
//! handed to the simulator's dispatch as an [`Incoming`]; shutdown cancels the token hanging
//! requests wait on, then waits for in-flight requests to be answered.

use std::future::Future;
use std::net::SocketAddr;

use bytes::Bytes;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use warp::Filter;
use warp::http::{HeaderMap, Method};
use warp::reply::Response;

/// A request as the simulator receives it.
pub(crate) struct Incoming {
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) query: String,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    pub(crate) remote: Option<SocketAddr>,
}

/// Serves `dispatch` on `addr` until `shutdown` resolves. Returns the bound address at once and
/// the server task, which ends once in-flight requests are answered; the token passed to
/// `dispatch` is cancelled when `shutdown` resolves.
pub(crate) async fn serve<D, F>(
    addr: SocketAddr,
    shutdown: impl Future<Output = ()> + Send + 'static,
    dispatch: D,
) -> std::io::Result<(SocketAddr, JoinHandle<()>)>
where
    D: Fn(Incoming, CancellationToken) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let cancel = CancellationToken::new();
    let server_cancel = cancel.clone();
    let query = warp::query::raw().or(warp::any().map(String::new)).unify();
    let routes = warp::method()
        .and(warp::path::full())
        .and(query)
        .and(warp::header::headers_cloned())
        .and(warp::body::bytes())
        .and(warp::addr::remote())
        .then(
            move |method: Method,
                  path: warp::path::FullPath,
                  query: String,
                  headers: HeaderMap,
                  body: Bytes,
                  remote: Option<SocketAddr>| {
                let incoming = Incoming {
                    method,
                    path: path.as_str().to_owned(),
                    query,
                    headers,
                    body,
                    remote,
                };
                dispatch(incoming, server_cancel.clone())
            },
        );
    let server = warp::serve(routes).incoming(listener).graceful(async move {
        shutdown.await;
        cancel.cancel();
    });
    Ok((local, tokio::spawn(server.run())))
}
