//! The wire format around a push: pkt-lines out, the server's report-status back.

/// One pkt-line: four hex digits of length (themselves included), then the payload.
pub fn pkt_line(payload: &[u8]) -> Vec<u8> {
    let mut line = format!("{:04x}", payload.len() + 4).into_bytes();
    line.extend_from_slice(payload);
    line
}

pub const FLUSH: &[u8] = b"0000";

/// The payloads of the pkt-lines in `data`, up to the first flush.
pub fn split_pkt_lines(mut data: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let mut lines = Vec::new();
    while data.len() >= 4 {
        let length = std::str::from_utf8(&data[..4])
            .ok()
            .and_then(|hex| usize::from_str_radix(hex, 16).ok())
            .ok_or_else(|| format!("invalid pkt-line length {:?}", &data[..4]))?;
        if length == 0 {
            break;
        }
        if length < 4 || length > data.len() {
            return Err(format!("truncated pkt-line of length {length}"));
        }
        lines.push(data[4..length].to_vec());
        data = &data[length..];
    }
    Ok(lines)
}

/// What the server said about one ref.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefStatus {
    Ok,
    Rejected(String),
}

/// A parsed report-status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// `None` for `unpack ok`, else the server's error.
    pub unpack_error: Option<String>,
    pub refs: Vec<(String, RefStatus)>,
}

/// Parses report-status lines: `unpack ok|<error>`, then `ok <ref>` or `ng <ref> <reason>`.
pub fn parse_report(lines: &[Vec<u8>]) -> Result<Report, String> {
    let mut lines = lines.iter().map(|line| {
        String::from_utf8_lossy(line)
            .trim_end_matches('\n')
            .to_owned()
    });
    let unpack = lines
        .next()
        .ok_or_else(|| "the server sent no report".to_owned())?;
    let unpack_error = match unpack.strip_prefix("unpack ") {
        Some("ok") => None,
        Some(error) => Some(error.to_owned()),
        None => return Err(format!("unexpected report line '{unpack}'")),
    };
    let mut refs = Vec::new();
    for line in lines {
        if let Some(name) = line.strip_prefix("ok ") {
            refs.push((name.to_owned(), RefStatus::Ok));
        } else if let Some(rest) = line.strip_prefix("ng ") {
            let (name, reason) = rest.split_once(' ').unwrap_or((rest, "rejected"));
            refs.push((name.to_owned(), RefStatus::Rejected(reason.to_owned())));
        } else {
            return Err(format!("unexpected report line '{line}'"));
        }
    }
    Ok(Report { unpack_error, refs })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkt_lines_round_trip() {
        let mut data = pkt_line(b"unpack ok\n");
        data.extend(pkt_line(b"ok refs/heads/main\n"));
        data.extend_from_slice(FLUSH);
        data.extend(pkt_line(b"after the flush"));
        assert_eq!(&data[..4], b"000e");
        let lines = split_pkt_lines(&data).unwrap();
        assert_eq!(
            lines,
            vec![b"unpack ok\n".to_vec(), b"ok refs/heads/main\n".to_vec()]
        );
        assert!(split_pkt_lines(b"00ffshort").is_err());
    }

    #[test]
    fn reports_name_each_ref() {
        let lines: Vec<Vec<u8>> = [
            "unpack ok\n",
            "ok refs/heads/main\n",
            "ng refs/heads/prod pre-receive hook declined\n",
        ]
        .iter()
        .map(|l| l.as_bytes().to_vec())
        .collect();
        let report = parse_report(&lines).unwrap();
        assert_eq!(report.unpack_error, None);
        assert_eq!(
            report.refs,
            vec![
                ("refs/heads/main".into(), RefStatus::Ok),
                (
                    "refs/heads/prod".into(),
                    RefStatus::Rejected("pre-receive hook declined".into())
                ),
            ]
        );
        let failed = parse_report(&[b"unpack index-pack abnormal exit\n".to_vec()]).unwrap();
        assert_eq!(
            failed.unpack_error.as_deref(),
            Some("index-pack abnormal exit")
        );
        assert!(parse_report(&[]).is_err());
        assert!(parse_report(&[b"hello".to_vec()]).is_err());
    }
}
