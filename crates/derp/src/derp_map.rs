//! The DERP map region that points clients at the embedded relay.
//!
//! One region (ID 900, the start of the range Tailscale leaves to self-hosted regions; code
//! `keygate`) with one node reached at the server URL's host and port:
//!
//! ```json
//! {"RegionID":900,"RegionCode":"keygate","RegionName":"keygate embedded DERP",
//!  "Nodes":[{"Name":"900","RegionID":900,"HostName":"127.0.0.1","IPv4":"127.0.0.1",
//!            "STUNPort":-1,"DERPPort":8080,"InsecureForTests":true}]}
//! ```
//!
//! - `DERPPort` is always explicit: clients default to 443, and with `TS_DEBUG_USE_DERP_HTTP=1`
//!   they dial `http://HostName:DERPPort/derp` (protocol.md §5.6).
//! - `IPv4`/`IPv6` are set when the host is an address, so clients skip DNS.
//! - `STUNPort: -1`: there is no STUN server; clients find their endpoints otherwise.
//! - `CanPort80: false`: nothing answers captive-portal checks on port 80.
//! - `InsecureForTests` for `http://` URLs: such a server is a test setup, and the flag keeps
//!   a client from insisting on a verified certificate there.
//!
//! Headscale builds the same region in `GenerateRegion` (`hscontrol/derp/server/derp_server.go`).

use std::collections::BTreeMap;
use std::net::IpAddr;

use keygate_tailcfg::{DERPMap, DERPNode, DERPRegion};

use crate::error::DerpMapError;

/// Region ID of the embedded relay.
pub const EMBEDDED_REGION_ID: i64 = 900;

/// Region code of the embedded relay.
pub const EMBEDDED_REGION_CODE: &str = "keygate";

/// Region name of the embedded relay.
pub const EMBEDDED_REGION_NAME: &str = "keygate embedded DERP";

/// The embedded relay's region for a server reachable at `server_url` (`http://` or
/// `https://`, host and optional port; the path is ignored).
pub fn embedded_region(server_url: &str) -> Result<DERPRegion, DerpMapError> {
    let invalid = || DerpMapError::InvalidUrl { url: server_url.to_owned() };
    let uri: http::Uri = server_url.parse().map_err(|_| invalid())?;
    let https = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => return Err(DerpMapError::Scheme { url: server_url.to_owned() }),
    };
    let host = uri
        .host()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| DerpMapError::NoHost { url: server_url.to_owned() })?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });

    let mut node = DERPNode {
        name: EMBEDDED_REGION_ID.to_string(),
        region_id: EMBEDDED_REGION_ID,
        host_name: host.to_owned(),
        stun_port: -1,
        derp_port: i32::from(port),
        insecure_for_tests: !https,
        can_port_80: false,
        ..DERPNode::default()
    };
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => node.ipv4 = v4.to_string(),
        Ok(IpAddr::V6(v6)) => node.ipv6 = v6.to_string(),
        Err(_) => {}
    }
    Ok(DERPRegion {
        region_id: EMBEDDED_REGION_ID,
        region_code: EMBEDDED_REGION_CODE.to_owned(),
        region_name: EMBEDDED_REGION_NAME.to_owned(),
        nodes: vec![node],
        ..DERPRegion::default()
    })
}

/// A DERP map holding only the embedded region.
pub fn embedded_derp_map(server_url: &str) -> Result<DERPMap, DerpMapError> {
    let region = embedded_region(server_url)?;
    Ok(DERPMap { regions: BTreeMap::from([(EMBEDDED_REGION_ID, region)]), ..DERPMap::default() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn loopback_http_url_gives_an_insecure_ipv4_node() {
        let map = embedded_derp_map("http://127.0.0.1:8080").unwrap();
        assert_eq!(
            serde_json::to_value(&map).unwrap(),
            json!({"Regions":{"900":{"RegionID":900,"RegionCode":"keygate",
                "RegionName":"keygate embedded DERP",
                "Nodes":[{"Name":"900","RegionID":900,"HostName":"127.0.0.1","IPv4":"127.0.0.1",
                          "STUNPort":-1,"DERPPort":8080,"InsecureForTests":true}]}}})
        );
    }

    #[test]
    fn https_name_defaults_to_443_without_address_or_insecure() {
        let node = &embedded_region("https://keygate.example.test/").unwrap().nodes[0];
        assert_eq!(node.host_name, "keygate.example.test");
        assert_eq!(node.derp_port, 443);
        assert!(node.ipv4.is_empty() && node.ipv6.is_empty() && !node.insecure_for_tests);
    }

    #[test]
    fn ipv6_host_loses_its_brackets() {
        let node = &embedded_region("http://[::1]:3340").unwrap().nodes[0];
        assert_eq!(
            (node.host_name.as_str(), node.ipv6.as_str(), node.derp_port),
            ("::1", "::1", 3340)
        );
        assert_eq!(embedded_region("http://example.test").unwrap().nodes[0].derp_port, 80);
    }

    #[test]
    fn bad_urls_are_refused() {
        assert!(matches!(embedded_region("not a url"), Err(DerpMapError::InvalidUrl { .. })));
        assert!(matches!(embedded_region("ftp://x.test"), Err(DerpMapError::Scheme { .. })));
        assert!(matches!(embedded_region("/relative"), Err(DerpMapError::Scheme { .. })));
    }
}
