//! What a node may send about itself: bounds on the Hostinfo and endpoints of register and map
//! requests.
//!
//! A node's Hostinfo is stored, and changes of it are sent to every peer that may see the
//! node, so an unbounded one costs the database and every peer's bandwidth: a hostile or
//! broken node could otherwise post a 1 MiB Hostinfo (the body limit) and have it fanned out.
//! A request over any bound is refused with 400 and a message naming the bound, before
//! anything is written. The bounds are far above what the official client sends (a Hostinfo
//! of 1–3 KiB, a handful of endpoints).

use keygate_tailcfg::Hostinfo;

use crate::error::ControlError;

/// Largest Hostinfo, as JSON. Services (listening ports) are the only part that grows with the
/// machine; 64 KiB leaves room for over a thousand of them.
pub const MAX_HOSTINFO_BYTES: usize = 64 * 1024;

/// Most fields of a Hostinfo that keygate does not know (kept for round-tripping: newer
/// clients add fields), and the most bytes they may take together.
pub const MAX_UNKNOWN_HOSTINFO_FIELDS: usize = 32;
pub const MAX_UNKNOWN_HOSTINFO_BYTES: usize = 4 * 1024;

/// Most routes a node may advertise (`Hostinfo.RoutableIPs`).
pub const MAX_ADVERTISED_ROUTES: usize = 1024;

/// Most endpoints (`ip:port` candidates for direct connections) in one map request.
pub const MAX_ENDPOINTS: usize = 64;

/// Checks a Hostinfo against the bounds above.
pub(crate) fn check_hostinfo(hostinfo: &Hostinfo) -> Result<(), ControlError> {
    let refuse = |what: String| Err(ControlError::BadRequest(format!("Hostinfo refused: {what}")));
    if hostinfo.routable_ips.len() > MAX_ADVERTISED_ROUTES {
        return refuse(format!(
            "{} advertised routes, keygate accepts at most {MAX_ADVERTISED_ROUTES}",
            hostinfo.routable_ips.len()
        ));
    }
    if hostinfo.extra.len() > MAX_UNKNOWN_HOSTINFO_FIELDS {
        return refuse(format!(
            "{} unknown fields, keygate keeps at most {MAX_UNKNOWN_HOSTINFO_FIELDS}",
            hostinfo.extra.len()
        ));
    }
    let unknown_bytes = json_len(&hostinfo.extra);
    if unknown_bytes > MAX_UNKNOWN_HOSTINFO_BYTES {
        return refuse(format!(
            "its unknown fields take {unknown_bytes} bytes, keygate keeps at most {MAX_UNKNOWN_HOSTINFO_BYTES}"
        ));
    }
    let bytes = json_len(hostinfo);
    if bytes > MAX_HOSTINFO_BYTES {
        return refuse(format!(
            "{bytes} bytes of JSON, keygate accepts at most {MAX_HOSTINFO_BYTES}"
        ));
    }
    Ok(())
}

/// Checks the number of endpoints of a map request.
pub(crate) fn check_endpoints(count: usize) -> Result<(), ControlError> {
    if count > MAX_ENDPOINTS {
        return Err(ControlError::BadRequest(format!(
            "{count} endpoints, keygate accepts at most {MAX_ENDPOINTS}"
        )));
    }
    Ok(())
}

/// The length of `value` as JSON (what would be stored); values that cannot be encoded count
/// as unbounded.
fn json_len(value: &impl serde::Serialize) -> usize {
    serde_json::to_vec(value).map_or(usize::MAX, |json| json.len())
}
