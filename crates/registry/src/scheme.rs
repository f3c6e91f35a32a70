//! Which scheme a registry is spoken to with when `insecure` is not set. As
//! go-containerregistry (and so Flux) does it: HTTPS, except that a registry on loopback
//! (`localhost`, `127.0.0.0/8`, `::1`) or on a private network (`10/8`, `172.16/12`,
//! `192.168/16`) that does not answer HTTPS is asked over plain HTTP, the way a local
//! development registry or an in-cluster one usually runs.

use std::net::IpAddr;

/// Whether `registry` (host, optionally with a port) may be spoken to over plain HTTP when it
/// does not answer HTTPS.
pub fn may_fall_back_to_http(registry: &str) -> bool {
    let host = host_of(registry);
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => ip.is_loopback() || ip.is_private(),
        Ok(IpAddr::V6(ip)) => ip.is_loopback(),
        Err(_) => false,
    }
}

/// The host of `host[:port]` or `[v6]:port`.
fn host_of(registry: &str) -> &str {
    if let Some(rest) = registry.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match registry.rsplit_once(':') {
        // An IPv6 address without brackets has more than one colon.
        Some((host, port)) if !host.contains(':') && port.parse::<u16>().is_ok() => host,
        _ => registry,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_private_registries_may_use_plain_http() {
        for registry in [
            "localhost:5000",
            "LOCALHOST",
            "127.0.0.1:5000",
            "127.1.2.3",
            "[::1]:5000",
            "10.0.0.7:5000",
            "172.16.0.1",
            "172.31.255.255:443",
            "192.168.1.20:5000",
        ] {
            assert!(may_fall_back_to_http(registry), "{registry}");
        }
    }

    #[test]
    fn public_registries_are_spoken_to_over_https_only() {
        for registry in [
            "ghcr.io",
            "index.docker.io",
            "registry.local:5000",
            "172.32.0.1:5000",
            "11.0.0.1",
            "8.8.8.8:443",
            "[2001:db8::1]:5000",
            "localhost.example.com",
        ] {
            assert!(!may_fall_back_to_http(registry), "{registry}");
        }
    }
}
