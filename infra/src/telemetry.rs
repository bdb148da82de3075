//! Logs and traces: the process's tracing subscriber.
//!
//! Log lines go to stderr as text or JSON. When an OTLP endpoint is set
//! (`OTEL_EXPORTER_OTLP_ENDPOINT`, OTLP over HTTP with protobuf), every
//! span is also exported, in batches from a background thread, with the
//! service's name, version and instance as resource attributes; a request
//! carrying a W3C `traceparent` continues the caller's trace. Without an
//! endpoint nothing is exported and nothing waits on a collector.

use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use opentelemetry::{KeyValue, propagation::TextMapPropagator as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::layer::SubscriberExt as _;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStyle {
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub struct TelemetrySettings {
    pub style: LogStyle,
    /// The collector's base URL (`http://collector:4318`); traces go to
    /// `/v1/traces` under it. `None`: no export.
    pub otlp_endpoint: Option<String>,
    pub service_name: String,
    pub service_version: String,
    /// This replica (the host name in a pod).
    pub instance: String,
}

impl TelemetrySettings {
    /// The settings of `shipmix serve`: the endpoint from
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`, the instance from `HOSTNAME`.
    pub fn from_env(style: LogStyle) -> Self {
        Self {
            style,
            otlp_endpoint: std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").ok().filter(|e| !e.is_empty()),
            service_name: "shipmix".to_owned(),
            service_version: env!("CARGO_PKG_VERSION").to_owned(),
            instance: std::env::var("HOSTNAME").unwrap_or_else(|_| format!("pid-{}", std::process::id())),
        }
    }
}

/// Flushes and stops the exporter when dropped.
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(e) = provider.shutdown()
        {
            eprintln!("telemetry: flushing traces failed: {e}");
        }
    }
}

/// The tracer provider exporting to `endpoint`.
pub fn provider(settings: &TelemetrySettings, endpoint: &str) -> anyhow::Result<SdkTracerProvider> {
    use opentelemetry_otlp::WithExportConfig as _;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(format!("{}/v1/traces", endpoint.trim_end_matches('/')))
        .build()?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(settings.service_name.clone())
        .with_attributes([
            KeyValue::new("service.version", settings.service_version.clone()),
            KeyValue::new("service.instance.id", settings.instance.clone()),
        ])
        .build();
    Ok(SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource).build())
}

/// The subscriber: filtered by `RUST_LOG` (default `info`), log lines to
/// `writer`, spans to `provider` when there is one.
pub fn subscriber<W>(
    style: LogStyle,
    writer: W,
    provider: Option<&SdkTracerProvider>,
) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let traces = provider.map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer("shipmix")));
    let registry = tracing_subscriber::registry().with(filter).with(traces);
    match style {
        LogStyle::Text => Box::new(registry.with(tracing_subscriber::fmt::layer().with_writer(writer))),
        LogStyle::Json => Box::new(registry.with(
            tracing_subscriber::fmt::layer().json().with_current_span(true).with_span_list(true).with_writer(writer),
        )),
    }
}

/// Installs the process's subscriber (once; later calls change nothing).
pub fn init(settings: &TelemetrySettings) -> anyhow::Result<TelemetryGuard> {
    let provider = settings.otlp_endpoint.as_deref().map(|e| provider(settings, e)).transpose()?;
    let _ = tracing::subscriber::set_global_default(subscriber(settings.style, std::io::stderr, provider.as_ref()));
    Ok(TelemetryGuard { provider })
}

/// Makes `span` a child of the caller's trace when `traceparent` is a valid
/// W3C trace context; otherwise it starts a trace of its own.
pub fn continue_trace(span: &tracing::Span, traceparent: Option<&str>) {
    let Some(traceparent) = traceparent else { return };
    let carrier = std::collections::HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
    let parent = TraceContextPropagator::new().extract(&carrier);
    if parent.span().span_context().is_valid() {
        let _ = span.set_parent(parent);
    }
}

/// The trace id of `span` (32 hex digits), if it is being traced.
pub fn trace_id(span: &tracing::Span) -> Option<String> {
    let context = span.context();
    let span_context = context.span().span_context().clone();
    span_context.is_valid().then(|| span_context.trace_id().to_string())
}

#[cfg(test)]
mod tests {
    use std::io::{Read as _, Write as _};

    use super::*;

    fn settings() -> TelemetrySettings {
        TelemetrySettings {
            style: LogStyle::Json,
            otlp_endpoint: None,
            service_name: "shipmix".into(),
            service_version: "0.0.0".into(),
            instance: "test-1".into(),
        }
    }

    #[test]
    fn spans_are_exported_over_otlp_and_continue_the_callers_trace() {
        // A collector that answers one export and hands its request over.
        let collector = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", collector.local_addr().unwrap());
        let received = std::thread::spawn(move || {
            let (mut stream, _) = collector.accept().unwrap();
            stream.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
            let mut request = Vec::new();
            let mut buffer = [0u8; 65536];
            while let Ok(n) = stream.read(&mut buffer) {
                if n == 0 {
                    break;
                }
                request.extend_from_slice(&buffer[..n]);
                let text = String::from_utf8_lossy(&request);
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let length = head
                        .lines()
                        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length: ").map(str::to_owned))
                        .and_then(|l| l.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    if body.len() >= length {
                        break;
                    }
                }
            }
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
            request
        });
        let provider = provider(&settings(), &endpoint).unwrap();
        let caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let seen =
            tracing::subscriber::with_default(subscriber(LogStyle::Json, std::io::sink, Some(&provider)), || {
                let span = tracing::info_span!("request", request_id = "r-1");
                continue_trace(&span, Some(caller));
                let _entered = span.enter();
                tracing::info!("inside");
                trace_id(&span)
            });
        assert_eq!(seen.as_deref(), Some("4bf92f3577b34da6a3ce929d0e0e4736"), "the caller's trace goes on");
        provider.shutdown().unwrap();
        let request = received.join().unwrap();
        let text = String::from_utf8_lossy(&request);
        assert!(text.starts_with("POST /v1/traces"), "{text}");
        assert!(text.to_ascii_lowercase().contains("content-type: application/x-protobuf"), "{text}");
        // The protobuf body names the span, the service and the instance.
        for name in ["request", "shipmix", "test-1"] {
            assert!(request.windows(name.len()).any(|w| w == name.as_bytes()), "{name} in the export");
        }
    }

    #[test]
    fn without_a_traceparent_or_an_exporter_nothing_is_traced() {
        let seen = tracing::subscriber::with_default(subscriber(LogStyle::Text, std::io::sink, None), || {
            let span = tracing::info_span!("request");
            continue_trace(&span, Some("not a trace context"));
            trace_id(&span)
        });
        assert_eq!(seen, None);
    }
}
