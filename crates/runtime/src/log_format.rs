//! JSON log lines in the shape Flux's controllers write them (zap's production encoder as
//! controller-runtime configures it): `level`, `ts`, `logger`, `msg`, then the event's fields,
//! with a reconciler's `kind` as `controllerKind`. Tools made for Flux read these lines:
//! `flux logs` filters them by kind, name, namespace and level.

use std::fmt;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The event formatter for `--log-encoding=json`.
pub struct FluxJson;

impl<S, N> FormatEvent<S, N> for FluxJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut ts = String::new();
        SystemTime.format_time(&mut Writer::new(&mut ts))?;
        let metadata = event.metadata();
        let mut line = Map::new();
        line.insert(
            "level".into(),
            Value::String(level_name(*metadata.level()).into()),
        );
        line.insert("ts".into(), Value::String(ts));
        line.insert("logger".into(), Value::String(metadata.target().into()));
        let mut fields = Fields::default();
        event.record(&mut fields);
        line.insert("msg".into(), Value::String(fields.message));
        for (key, value) in fields.rest {
            line.insert(key, value);
        }
        let text = serde_json::to_string(&Value::Object(line)).map_err(|_| fmt::Error)?;
        writeln!(writer, "{text}")
    }
}

/// zap's level names.
fn level_name(level: Level) -> &'static str {
    match level {
        Level::TRACE => "trace",
        Level::DEBUG => "debug",
        Level::INFO => "info",
        Level::WARN => "warn",
        Level::ERROR => "error",
    }
}

/// The name Flux gives a field.
fn flux_key(name: &str) -> &str {
    match name {
        "kind" => "controllerKind",
        other => other,
    }
}

#[derive(Default)]
struct Fields {
    message: String,
    rest: Vec<(String, Value)>,
}

impl Fields {
    fn put(&mut self, field: &Field, value: Value) {
        if field.name() == "message" {
            self.message = match value {
                Value::String(text) => text,
                other => other.to_string(),
            };
        } else {
            self.rest.push((flux_key(field.name()).to_owned(), value));
        }
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::String(value.to_owned()));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::Bool(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::from(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, Value::from(value));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, Value::String(value.to_string()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, Value::String(format!("{value:?}")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::prelude::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_have_flux_keys_and_the_kind_as_controller_kind() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .event_format(FluxJson)
                .with_writer(move || writer.clone()),
        );
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(
                kind = "Kustomization",
                namespace = "flux-system",
                name = "app",
                revision = 3,
                "reconciliation finished"
            );
            tracing::warn!(error = "boom", "retrying");
        });
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(lines[0]["level"], "info");
        assert_eq!(lines[0]["msg"], "reconciliation finished");
        assert_eq!(lines[0]["controllerKind"], "Kustomization");
        assert_eq!(lines[0]["name"], "app");
        assert_eq!(lines[0]["namespace"], "flux-system");
        assert_eq!(lines[0]["revision"], 3);
        assert!(lines[0]["logger"].as_str().unwrap().contains("log_format"));
        // RFC 3339 UTC, as zap's ISO 8601 encoder writes it.
        let ts = lines[0]["ts"].as_str().unwrap();
        assert!(ts.contains('T') && ts.ends_with('Z'), "{ts}");
        assert_eq!(lines[1]["level"], "warn");
        assert_eq!(lines[1]["error"], "boom");
        assert!(lines[0].get("kind").is_none() && lines[0].get("message").is_none());
    }
}
