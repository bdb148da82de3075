//! Builds and runs the HTTP server. `Application::build` binds the listener
//! itself (port 0 picks a free one) so tests and the binary share one path.

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use anyhow::Context as _;
use infra::cache::{CacheSettings, StockCache};
use infra::db::{self, DatabaseSettings};
use infra::store::Store;

use crate::graphql::build_schema;
use crate::state::{AppState, GatewaySettings};

/// How to run the gateway.
#[derive(Debug, Clone)]
pub struct ServeSettings {
    pub listen: String,
    pub database: DatabaseSettings,
    pub cache: CacheSettings,
    pub migrate: bool,
    pub demo: bool,
    pub http: HttpLimits,
    pub gateway: GatewaySettings,
}

pub use crate::http::{DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_RESPONSE_BYTES, HttpLimits};

pub struct Application {
    server: Server,
    port: u16,
    host: String,
    state: AppState,
}

impl Application {
    /// Connects, migrates (unless told not to), loads the demo network if
    /// asked, binds the listener and prepares the server.
    pub async fn build(settings: &ServeSettings) -> anyhow::Result<Self> {
        let connection = db::connect(&settings.database).await.context("connecting to the database")?;
        if settings.migrate {
            db::migrate(&connection).await.context("applying migrations")?;
        }
        let store = Store::new(connection);
        if settings.demo {
            if crate::demo::load(&store).await.context("loading the demo network")? {
                tracing::info!("demo network loaded");
            } else {
                tracing::info!("the database already holds a network; the demo network is not loaded again");
            }
            crate::demo::ensure_keys(&store).await.context("creating the demo keys")?;
        }
        let cache = StockCache::new(&settings.cache).context("configuring the stock cache")?;
        let state = AppState::new(store, cache, settings.gateway.clone());
        let listener = TcpListener::bind(&settings.listen).with_context(|| format!("binding {}", settings.listen))?;
        Self::with_listener(state, listener, settings.http)
    }

    pub fn with_listener(state: AppState, listener: TcpListener, limits: HttpLimits) -> anyhow::Result<Self> {
        let address = listener.local_addr()?;
        let schema = build_schema(state.clone());
        let data_gate = web::Data::new(crate::graphql::build_gate(state.clone()));
        let data_state = web::Data::new(state.clone());
        let data_schema = web::Data::new(schema);
        let server = HttpServer::new(move || {
            let cors_state = data_state.clone();
            App::new()
                .wrap_fn(move |req, srv| {
                    use actix_web::dev::Service as _;
                    let origin = crate::http::allowed_origin(&cors_state, req.headers());
                    let call = srv.call(req);
                    async move {
                        let mut response = call.await?;
                        if let Some(origin) = origin {
                            crate::http::with_cors(response.headers_mut(), &origin);
                        }
                        Ok(response)
                    }
                })
                .app_data(data_state.clone())
                .app_data(data_schema.clone())
                .app_data(data_gate.clone())
                .app_data(web::Data::new(limits))
                .route("/graphql", web::post().to(crate::http::graphql_post))
                .route("/graphql", web::get().to(crate::http::graphql_get))
                .route("/graphql", web::method(actix_web::http::Method::OPTIONS).to(crate::http::graphql_options))
                .route("/healthz", web::get().to(crate::http::healthz))
                .route("/readyz", web::get().to(crate::http::readyz))
                .route("/metrics", web::get().to(crate::http::metrics))
        })
        .workers(limits.workers.max(1))
        .client_request_timeout(limits.header_timeout)
        .keep_alive(limits.keep_alive)
        .max_connections(limits.max_connections.max(1))
        .listen(listener)?
        .run();
        Ok(Self { server, port: address.port(), host: address.ip().to_string(), state })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The GraphQL endpoint.
    pub fn url(&self) -> String {
        format!("http://{}:{}/graphql", self.host, self.port)
    }

    /// Stops the server from elsewhere (tests, signal handlers).
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves, with the backorder worker beside it, until stopped.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let worker = tokio::spawn(crate::worker::run(self.state.clone()));
        let served = self.server.await;
        worker.abort();
        served
    }
}
