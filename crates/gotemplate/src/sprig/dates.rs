//! Sprig's date functions over Go's reference-time layouts: `now`, `date`, `dateInZone`,
//! `htmlDate`, `htmlDateInZone`, `unixEpoch`, `toDate`, `mustToDate`, `dateModify`,
//! `mustDateModify`, `ago` (and their snake-case aliases). The local zone is UTC, as in a
//! container without `TZ`.

use std::sync::Arc;

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone as _, Utc};

use super::{add, fail};
use crate::funcs::{Arity, FuncError, FuncMap, arg_str};
use crate::value::{Object, Value};

/// A Go `time.Time`.
#[derive(Debug, Clone)]
pub struct Time(pub DateTime<FixedOffset>);

impl Object for Time {
    fn type_name(&self) -> String {
        "time.Time".into()
    }
    fn to_go_string(&self) -> Option<String> {
        Some(format_layout(
            &self.0,
            "2006-01-02 15:04:05.999999999 -0700 MST",
        ))
    }
    fn has_method(&self, name: &str) -> bool {
        matches!(name, "Unix" | "Year" | "Format" | "UTC")
    }
    fn call_method(&self, name: &str, args: Vec<Value>) -> Result<Value, FuncError> {
        match name {
            "Unix" => Ok(Value::Int64(self.0.timestamp())),
            "Year" => Ok(Value::Int(i64::from(chrono::Datelike::year(&self.0)))),
            "UTC" => Ok(time_value(self.0.with_timezone(&Utc).fixed_offset())),
            _ => {
                crate::funcs::check_arity(name, &args, 1)?;
                Ok(Value::String(format_layout(&self.0, &arg_str(&args, 0)?)))
            }
        }
    }
}

fn time_value(t: DateTime<FixedOffset>) -> Value {
    Value::Object(Arc::new(Time(t)))
}

fn now() -> DateTime<FixedOffset> {
    Utc::now().fixed_offset()
}

/// Sprig's `toDate`-style argument: a `time.Time`, or Unix seconds as an integer.
fn to_time(v: &Value) -> DateTime<FixedOffset> {
    match v {
        Value::Object(o) if o.type_name() == "time.Time" => o
            .to_go_string()
            .and_then(|s| parse_layout("2006-01-02 15:04:05.999999999 -0700 MST", &s))
            .unwrap_or_else(now),
        Value::Int(secs) | Value::Int64(secs) => Utc
            .timestamp_opt(*secs, 0)
            .single()
            .unwrap_or_default()
            .fixed_offset(),
        Value::Float(secs) => Utc
            .timestamp_opt(*secs as i64, 0)
            .single()
            .unwrap_or_default()
            .fixed_offset(),
        _ => now(),
    }
}

fn zone(name: &str) -> Option<FixedOffset> {
    match name {
        "UTC" | "" | "Local" => FixedOffset::east_opt(0),
        _ => None,
    }
}

pub(super) fn register(m: &mut FuncMap) {
    use Arity::Exact;
    add(m, "now", Exact(0), |_| Ok(time_value(now())));
    for name in ["date", "dateInZone", "date_in_zone"] {
        let in_zone = name != "date";
        add(m, name, Exact(if in_zone { 3 } else { 2 }), move |a| {
            let layout = arg_str(&a, 0)?;
            let mut t = to_time(&a[1]);
            if in_zone {
                let zone_name = arg_str(&a, 2)?;
                t = t.with_timezone(
                    &zone(&zone_name).unwrap_or(FixedOffset::east_opt(0).unwrap_or(*t.offset())),
                );
            }
            Ok(Value::String(format_layout(&t, &layout)))
        });
    }
    add(m, "htmlDate", Exact(1), |a| {
        Ok(Value::String(format_layout(&to_time(&a[0]), "2006-01-02")))
    });
    add(m, "htmlDateInZone", Exact(2), |a| {
        Ok(Value::String(format_layout(&to_time(&a[0]), "2006-01-02")))
    });
    add(m, "unixEpoch", Exact(1), |a| {
        Ok(Value::String(to_time(&a[0]).timestamp().to_string()))
    });
    for (name, must) in [("toDate", false), ("mustToDate", true)] {
        add(m, name, Exact(2), move |a| {
            let (layout, text) = (arg_str(&a, 0)?, arg_str(&a, 1)?);
            match parse_layout(&layout, &text) {
                Some(t) => Ok(time_value(t)),
                None if must => fail(format!("parsing time {text:?} as {layout:?}: cannot parse")),
                None => Ok(time_value(DateTime::<Utc>::MIN_UTC.fixed_offset())),
            }
        });
    }
    for (name, must) in [
        ("dateModify", false),
        ("date_modify", false),
        ("mustDateModify", true),
        ("must_date_modify", true),
    ] {
        add(m, name, Exact(2), move |a| {
            let modification = arg_str(&a, 0)?;
            let t = to_time(&a[1]);
            match super::decimal::parse_duration(&modification) {
                Some(nanos) => Ok(time_value(t + chrono::Duration::nanoseconds(nanos))),
                None if must => fail(format!("time: invalid duration {modification:?}")),
                None => Ok(time_value(t)),
            }
        });
    }
    add(m, "ago", Exact(1), |a| {
        let elapsed = now() - to_time(&a[0]);
        let seconds = elapsed.num_seconds();
        Ok(Value::String(super::decimal::seconds_string(seconds)))
    });
}

/// Go's `Time.Format` for `layout`.
pub fn format_layout(t: &DateTime<FixedOffset>, layout: &str) -> String {
    let mut out = String::new();
    for chunk in chunks(layout) {
        match chunk {
            Chunk::Literal(s) => out.push_str(&s),
            Chunk::Std(spec) => out.push_str(&t.format(spec).to_string()),
            Chunk::Fraction { digits, trim } => {
                let nanos = format!("{:09}", t.timestamp_subsec_nanos());
                let mut frac = nanos[..digits.min(9)].to_owned();
                if trim {
                    frac = frac.trim_end_matches('0').to_owned();
                }
                if !frac.is_empty() {
                    out.push('.');
                    out.push_str(&frac);
                }
            }
            Chunk::ZoneZ { colon } => {
                if t.offset().local_minus_utc() == 0 {
                    out.push('Z');
                } else {
                    out.push_str(&t.format(if colon { "%:z" } else { "%z" }).to_string());
                }
            }
            Chunk::ZoneName => {
                let offset = t.offset().local_minus_utc();
                if offset == 0 {
                    out.push_str("UTC");
                } else {
                    out.push_str(&t.format("%z").to_string()[..3]);
                }
            }
        }
    }
    out
}

/// Go's `time.ParseInLocation(layout, text, time.Local)` for the common layouts.
pub fn parse_layout(layout: &str, text: &str) -> Option<DateTime<FixedOffset>> {
    let mut spec = String::new();
    let mut has_zone = false;
    for chunk in chunks(layout) {
        match chunk {
            Chunk::Literal(s) => spec.push_str(&s.replace('%', "%%")),
            Chunk::Std(s) => spec.push_str(s),
            Chunk::Fraction { .. } => spec.push_str("%.f"),
            Chunk::ZoneZ { .. } => {
                has_zone = true;
                spec.push_str("%#z");
            }
            Chunk::ZoneName => spec.push_str("UTC"),
        }
    }
    if has_zone {
        let text = text.replace('Z', "+00:00");
        return DateTime::parse_from_str(&text, &spec).ok();
    }
    if spec.contains("%z") || spec.contains("%:z") {
        return DateTime::parse_from_str(text, &spec).ok();
    }
    if let Ok(naive) = NaiveDateTime::parse_from_str(text, &spec) {
        return Some(naive.and_utc().fixed_offset());
    }
    chrono::NaiveDate::parse_from_str(text, &spec)
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|n| n.and_utc().fixed_offset())
}

enum Chunk {
    Literal(String),
    Std(&'static str),
    Fraction { digits: usize, trim: bool },
    ZoneZ { colon: bool },
    ZoneName,
}

/// Go's `nextStdChunk`: the layout cut into reference-time elements and literal text.
fn chunks(layout: &str) -> Vec<Chunk> {
    const ELEMENTS: &[(&str, &str)] = &[
        ("January", "%B"),
        ("Jan", "%b"),
        ("Monday", "%A"),
        ("Mon", "%a"),
        ("MST", ""),
        ("2006", "%Y"),
        ("-07:00", "%:z"),
        ("-0700", "%z"),
        ("002", "%j"),
        ("01", "%m"),
        ("02", "%d"),
        ("03", "%I"),
        ("04", "%M"),
        ("05", "%S"),
        ("06", "%y"),
        ("_2", "%e"),
        ("15", "%H"),
        ("1", "%-m"),
        ("2", "%-d"),
        ("3", "%-I"),
        ("4", "%-M"),
        ("5", "%-S"),
        ("PM", "%p"),
        ("pm", "%P"),
    ];
    let mut out = Vec::new();
    let mut literal = String::new();
    let mut rest = layout;
    'outer: while !rest.is_empty() {
        for colon in [true, false] {
            let token = if colon { "Z07:00" } else { "Z0700" };
            if rest.starts_with(token) {
                flush(&mut literal, &mut out);
                out.push(Chunk::ZoneZ { colon });
                rest = &rest[token.len()..];
                continue 'outer;
            }
        }
        if let Some(after) = rest.strip_prefix(['.', ',']) {
            let digit = after.chars().next();
            if matches!(digit, Some('0' | '9')) {
                let d = digit.unwrap_or('0');
                let count = after.chars().take_while(|c| *c == d).count();
                let next = after[count..].chars().next();
                if !next.is_some_and(|c| c.is_ascii_digit()) {
                    flush(&mut literal, &mut out);
                    out.push(Chunk::Fraction {
                        digits: count,
                        trim: d == '9',
                    });
                    rest = &after[count..];
                    continue;
                }
            }
        }
        for (token, spec) in ELEMENTS {
            if rest.starts_with(token) {
                // "Jan"/"Mon" only when not the start of a longer word, as Go checks.
                flush(&mut literal, &mut out);
                if *token == "MST" {
                    out.push(Chunk::ZoneName);
                } else {
                    out.push(Chunk::Std(spec));
                }
                rest = &rest[token.len()..];
                continue 'outer;
            }
        }
        let c = rest.chars().next().unwrap_or_default();
        literal.push(c);
        rest = &rest[c.len_utf8()..];
    }
    flush(&mut literal, &mut out);
    out
}

fn flush(literal: &mut String, out: &mut Vec<Chunk>) {
    if !literal.is_empty() {
        out.push(Chunk::Literal(std::mem::take(literal)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference() -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339("2031-02-03T04:05:06.123456789Z").unwrap()
    }

    #[test]
    fn go_layouts_format_the_reference_elements() {
        let t = reference();
        assert_eq!(format_layout(&t, "2006-01-02"), "2031-02-03");
        assert_eq!(
            format_layout(&t, "Mon Jan _2 15:04:05 MST 2006"),
            "Mon Feb  3 04:05:06 UTC 2031"
        );
        assert_eq!(
            format_layout(&t, "2006-01-02T15:04:05Z07:00"),
            "2031-02-03T04:05:06Z"
        );
        assert_eq!(format_layout(&t, "15:04:05.000"), "04:05:06.123");
        assert_eq!(format_layout(&t, "3:04PM, January 2"), "4:05AM, February 3");
        assert_eq!(
            format_layout(&t, "2006-01-02 15:04:05.999999999 -0700 MST"),
            "2031-02-03 04:05:06.123456789 +0000 UTC"
        );
    }

    #[test]
    fn layouts_parse_back() {
        let t = parse_layout("2006-01-02", "2031-02-03").unwrap();
        assert_eq!(t.timestamp(), 1927843200);
        assert!(parse_layout("2006-01-02", "not a date").is_none());
        let t = parse_layout("2006-01-02T15:04:05Z07:00", "2031-02-03T04:05:06Z").unwrap();
        assert_eq!(format_layout(&t, "15:04"), "04:05");
    }
}
