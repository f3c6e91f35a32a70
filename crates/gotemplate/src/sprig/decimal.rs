//! Sprig's `addf`, `subf`, `mulf`, `divf`, `add1f` (shopspring/decimal over each operand's
//! shortest decimal form) and `duration`, `durationRound` (Go's `time.Duration`).

use super::{add, fail, to_float64};
use crate::funcs::{Arity, FuncError, FuncMap};
use crate::value::Value;

/// `mant × 10^exp`.
#[derive(Clone, Copy, Debug)]
struct Dec {
    mant: i128,
    exp: i32,
}

impl Dec {
    /// `decimal.NewFromFloat`: the shortest decimal that reads back as `f`.
    fn from_f64(f: f64) -> Option<Dec> {
        if !f.is_finite() {
            return None;
        }
        let s = format!("{f:e}");
        let (m, e) = s.split_once('e')?;
        let e: i32 = e.parse().ok()?;
        let neg = m.starts_with('-');
        let digits: String = m.chars().filter(char::is_ascii_digit).collect();
        let frac = digits.len() as i32 - 1;
        let mant: i128 = digits.parse().ok()?;
        Some(Dec {
            mant: if neg { -mant } else { mant },
            exp: e - frac,
        })
    }

    fn to_f64(self) -> f64 {
        format!("{}e{}", self.mant, self.exp)
            .parse()
            .unwrap_or(f64::NAN)
    }

    fn rescale(self, exp: i32) -> Option<Dec> {
        let diff = u32::try_from(self.exp - exp).ok()?;
        Some(Dec {
            mant: self.mant.checked_mul(10i128.checked_pow(diff)?)?,
            exp,
        })
    }

    fn add(self, o: Dec) -> Option<Dec> {
        let exp = self.exp.min(o.exp);
        let (a, b) = (self.rescale(exp)?, o.rescale(exp)?);
        Some(Dec {
            mant: a.mant.checked_add(b.mant)?,
            exp,
        })
    }

    fn mul(self, o: Dec) -> Option<Dec> {
        Some(Dec {
            mant: self.mant.checked_mul(o.mant)?,
            exp: self.exp.checked_add(o.exp)?,
        })
    }

    /// `Div`: rounded half away from zero to 16 decimal places.
    fn div(self, o: Dec) -> Option<Dec> {
        let k = self.exp - o.exp + 16;
        let (num, den) = if k >= 0 {
            (
                self.mant.checked_mul(10i128.checked_pow(k as u32)?)?,
                o.mant,
            )
        } else {
            (
                self.mant,
                o.mant.checked_mul(10i128.checked_pow((-k) as u32)?)?,
            )
        };
        let mut q = num / den;
        let r = num % den;
        if r != 0 && r.unsigned_abs() * 2 >= den.unsigned_abs() {
            q += if (num < 0) == (den < 0) { 1 } else { -1 };
        }
        Some(Dec { mant: q, exp: -16 })
    }
}

#[derive(Clone, Copy)]
enum Op {
    Add,
    Sub,
    Mul,
    Div,
}

fn fold(first: &Value, rest: &[Value], op: Op) -> Result<Value, FuncError> {
    let mut acc = to_float64(first);
    let mut dec = Dec::from_f64(acc);
    for v in rest {
        let x = to_float64(v);
        if matches!(op, Op::Div) && x == 0.0 {
            return fail("decimal division by 0");
        }
        dec = match (dec, Dec::from_f64(x)) {
            (Some(a), Some(b)) => match op {
                Op::Add => a.add(b),
                Op::Sub => a.add(Dec { mant: -b.mant, ..b }),
                Op::Mul => a.mul(b),
                Op::Div => a.div(b),
            },
            _ => None,
        };
        acc = match op {
            Op::Add => acc + x,
            Op::Sub => acc - x,
            Op::Mul => acc * x,
            Op::Div => acc / x,
        };
        if let Some(d) = dec {
            acc = d.to_f64();
        }
    }
    Ok(Value::Float(acc))
}

/// Go's `time.ParseDuration`, in nanoseconds.
pub(super) fn parse_duration(s: &str) -> Option<i64> {
    let (neg, mut t) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if t == "0" {
        return Some(0);
    }
    if t.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    while !t.is_empty() {
        let num_len = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        if num_len == 0 {
            return None;
        }
        let n: f64 = t[..num_len].parse().ok()?;
        t = &t[num_len..];
        let unit_len = t
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(t.len());
        let scale = match &t[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        t = &t[unit_len..];
        total += n * scale;
    }
    if total > i64::MAX as f64 {
        return None;
    }
    Some(if neg { -(total as i64) } else { total as i64 })
}

/// Go's `time.Duration.String` for whole seconds.
pub(super) fn seconds_string(n: i64) -> String {
    if n == 0 {
        return "0s".into();
    }
    let sign = if n < 0 { "-" } else { "" };
    let u = n.unsigned_abs();
    let (h, m, s) = (u / 3600, u / 60 % 60, u % 60);
    if h > 0 {
        format!("{sign}{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{sign}{m}m{s}s")
    } else {
        format!("{sign}{s}s")
    }
}

pub(super) fn register(m: &mut FuncMap) {
    use Arity::AtLeast;
    add(m, "add1f", Arity::Exact(1), |a| {
        fold(&a[0], &[Value::Int(1)], Op::Add)
    });
    add(m, "addf", AtLeast(0), |a| {
        fold(&Value::Float(0.0), &a, Op::Add)
    });
    add(m, "subf", AtLeast(1), |a| fold(&a[0], &a[1..], Op::Sub));
    add(m, "mulf", AtLeast(1), |a| fold(&a[0], &a[1..], Op::Mul));
    add(m, "divf", AtLeast(1), |a| fold(&a[0], &a[1..], Op::Div));
    add(m, "duration", Arity::Exact(1), |a| {
        // Sprig reads only strings and int64s: a template's `int` literal is 0 seconds.
        let n = match &a[0] {
            Value::String(s) => s.parse::<i64>().unwrap_or(0),
            Value::Int64(i) => *i,
            _ => 0,
        };
        Ok(Value::String(seconds_string(n.clamp(
            -(i64::MAX / 1_000_000_000),
            i64::MAX / 1_000_000_000,
        ))))
    });
    add(m, "durationRound", Arity::Exact(1), |a| {
        let d: i64 = match &a[0] {
            Value::String(s) => parse_duration(s).unwrap_or(0),
            Value::Int64(i) => *i,
            _ => 0,
        };
        let u = d.unsigned_abs();
        const SECOND: u64 = 1_000_000_000;
        let units = [
            (SECOND * 3600 * 24 * 365, "y"),
            (SECOND * 3600 * 24 * 30, "mo"),
            (SECOND * 3600 * 24, "d"),
            (SECOND * 3600, "h"),
            (SECOND * 60, "m"),
            (SECOND, "s"),
        ];
        for (size, name) in units {
            if u > size {
                return Ok(Value::String(format!("{}{name}", u / size)));
            }
        }
        Ok(Value::String("0s".into()))
    });
}
